"""Training pieces shared by the CSP trainer and the tactic trainer: optimiser config, LR
schedule, seeding, and atomic checkpoints (`ckpt_{step:06d}.pt`) that resume exactly.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

CHECKPOINT_GLOB = "ckpt_*.pt"


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0:
            raise ValueError("lr must be positive and warmup_steps non-negative")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Scheduled(Protocol):
    @property
    def optim(self) -> OptimConfig: ...

    @property
    def max_steps(self) -> int: ...


def lr_factor(cfg: _Scheduled, step: int) -> float:
    """LR multiplier at `step`: linear warm-up, then constant or cosine to min_lr_ratio."""
    o = cfg.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - o.warmup_steps) / max(1, cfg.max_steps - o.warmup_steps))
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def checkpoints(out: Path) -> list[Path]:
    return sorted(out.glob(CHECKPOINT_GLOB))


def save_checkpoint(out: Path, state: dict[str, Any], keep: int) -> Path:
    path = out / f"ckpt_{state['step']:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a killed run leaves the previous checkpoint intact
    for old in checkpoints(out)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a truncated or foreign file
        raise ValueError(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); "
            "delete it to resume from the one before"
        ) from None
    return state


def out_of_time(accelerator: Any, start_s: float, minutes: float) -> bool:
    """Whether the wall-clock budget is spent, agreed by every process (the slowest clock
    decides), so no process leaves the training loop while the others wait in a collective."""
    spent = time.monotonic() - start_s > 60 * minutes
    if accelerator.num_processes == 1:
        return spent
    flag = torch.tensor([float(spent)], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def make_optimizer(
    model: torch.nn.Module, cfg: _Scheduled
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with `cfg.optim`'s settings and the warm-up + cosine/constant schedule."""
    o = cfg.optim
    opt = torch.optim.AdamW(
        model.parameters(), lr=o.lr, weight_decay=o.weight_decay, betas=(o.beta1, o.beta2)
    )
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(cfg, s))


def training_state(
    step: int, model: torch.nn.Module, opt: Any, sched: Any, **extra: Any
) -> dict[str, Any]:
    """What a checkpoint holds: step (= data position), model, optimizer, scheduler, every
    RNG, plus `extra` (config, EMA, ...)."""
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "data_position": step,  # batches are a function of (seed, step)
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
        **extra,
    }


def restore(state: dict[str, Any], model: torch.nn.Module, opt: Any, sched: Any) -> int:
    """Load a `training_state` back (model, optimizer, scheduler, RNGs); returns its step."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return int(state["step"])


class StepLog:
    """A run's `log.jsonl` (main process only): one record every `every` steps and at the
    last step, then the checkpoint cadence: `save()` says whether this step saves."""

    def __init__(
        self, out: Path, *, every: int, checkpoint_every: int, last_step: int, enabled: bool
    ) -> None:
        self.fh = (out / "log.jsonl").open("a") if enabled else None
        self.every, self.checkpoint_every, self.last_step = every, checkpoint_every, last_step
        self.enabled = enabled

    def record(self, step: int, lr: float, elapsed_s: float, metrics: dict[str, float]) -> None:
        if self.fh is not None and (step % self.every == 0 or step == self.last_step):
            row = {"step": step, "lr": lr, "elapsed_s": elapsed_s, **metrics}
            self.fh.write(json.dumps(row) + "\n")
            self.fh.flush()

    def save(self, step: int) -> bool:
        return self.enabled and step % self.checkpoint_every == 0

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
