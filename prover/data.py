"""Load tactic-step training data from any of the layouts Springtail reads.

- LeanDojo Benchmark 4 (and `springtail trace` output, which uses the same layout): a JSON
  list of theorems, each with `full_name`, `file_path` and `traced_tactics` holding
  `tactic`, `state_before`, `state_after`; give the split file or its folder and split name.
- `../shared/data/lean_states/steps.jsonl`: one step per line with `theorem`, `file_path`,
  `state_before`, `tactic`, `state_after`.

Every loader yields the same frozen `TacticStep`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TacticStep:
    theorem: str  # full name where known
    file_path: str
    state_before: str
    tactic: str
    state_after: str


class DataFormatError(ValueError):
    """A data file is not in a layout Springtail reads."""


def _from_benchmark(path: Path) -> Iterator[TacticStep]:
    try:
        theorems = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}: not JSON ({e})") from e
    if not isinstance(theorems, list):
        raise DataFormatError(f"{path}: expected a JSON list of theorems (LeanDojo Benchmark 4)")
    for i, thm in enumerate(theorems):
        if not isinstance(thm, dict) or "traced_tactics" not in thm:
            raise DataFormatError(f"{path}: theorem #{i} has no 'traced_tactics'")
        for t in thm["traced_tactics"]:
            yield TacticStep(
                thm.get("full_name", ""),
                thm.get("file_path", ""),
                t["state_before"],
                t["tactic"],
                t["state_after"],
            )


def _from_jsonl(path: Path) -> Iterator[TacticStep]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield TacticStep(
                    row.get("theorem") or row.get("full_name", ""),
                    row.get("file_path", ""),
                    row["state_before"],
                    row["tactic"],
                    row["state_after"],
                )
            except (json.JSONDecodeError, KeyError) as e:
                raise DataFormatError(f"{path}:{n}: not a tactic step ({e})") from e


def load_steps(path: str | Path, split: str | None = None) -> list[TacticStep]:
    """Steps from a benchmark split file, a benchmark folder plus `split` (e.g.
    "novel_files/train"), or a steps.jsonl file."""
    p = Path(path)
    if p.is_dir():
        if split is None:
            raise DataFormatError(f"{p} is a folder: name a split such as 'random/train'")
        p = p / f"{split}.json"
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file")
    if p.suffix == ".jsonl":
        return list(_from_jsonl(p))
    return list(_from_benchmark(p))
