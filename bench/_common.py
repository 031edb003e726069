"""Shared helpers of the benchmarks: timing, peak memory, the machine, a table, JSON output."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

try:
    # M_MMAP_THRESHOLD = 64 KiB, fixed: glibc otherwise raises the threshold after each large
    # free and keeps later tensors in its heap, so the RSS would not fall when tensors die and
    # the CPU peak-memory numbers below would read 0.
    ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)
except (OSError, AttributeError):
    pass


def machine() -> dict[str, Any]:
    """What produced the numbers."""
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _proc_status_bytes(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", text)
    return int(match.group(1)) * 1024 if match else 0


def peak_memory(fn: Callable[[], object], device: torch.device) -> int | None:
    """Extra bytes at the peak of one call of fn: CUDA's allocator on a GPU; on Linux CPUs the
    resident-set high-water mark (reset through /proc/self/clear_refs) above the RSS before."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _proc_status_bytes("VmRSS")
    fn()
    return max(_proc_status_bytes("VmHWM") - before, 0)


def time_call(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1
) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A markdown table of the given columns."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(fmt(row.get(c)) for c in columns) + " |")


def write_json(path: str, payload: dict[str, Any]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"wrote {out}")
