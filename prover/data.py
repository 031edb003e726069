"""Load tactic-step training data from any of the layouts Springtail reads.

- LeanDojo Benchmark 4 (and `springtail trace` output, which uses the same layout): a JSON
  list of theorems, each with `full_name`, `file_path` and `traced_tactics` holding
  `tactic`, `state_before`, `state_after`; give the split file or its folder and split name.
- `../shared/data/lean_states/steps.jsonl`: one step per line with `theorem`, `file_path`,
  `state_before`, `tactic`, `state_after`.

Every loader yields the same frozen `TacticStep`. `split_theorems` reads the theorems of a
trace split as `Theorem`s to attempt, in a fixed order.

`check_trace` is the one check that a folder is a `springtail trace` of the current format
(`coq_trace.TRACE_FORMAT_VERSION`, in its `manifest.json`): older traces held out theorems
whose own file the policies' imports load, so they are refused with the command that
re-makes them. `split_theorems` (Coq eval, the loop) needs a trace, so a folder of split
files without a manifest is refused too: nothing says which files its held-out splits keep
out. `load_steps` checks a folder (or a split file inside one) only when it holds a Coq
trace manifest, so LeanDojo Benchmark folders, which have none, load as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.envs.base import EnvError
from prover.envs.coq_project import coqlib
from prover.envs.coq_trace import MANIFEST_FILE, STRATEGIES, TRACE_FORMAT_VERSION


@dataclass(frozen=True)
class TacticStep:
    theorem: str  # full name where known
    file_path: str
    state_before: str
    tactic: str
    state_after: str


class DataFormatError(ValueError):
    """A data file is not in a layout Springtail reads."""


@dataclass(frozen=True)
class Theorem:
    """One theorem to attempt: its file, its name as the env finds it, and a label to show
    (default: the name; a trace's full name, say)."""

    file: Path
    name: str
    label: str = ""

    @property
    def shown(self) -> str:
        return self.label or self.name


def check_trace(data_dir: Path) -> dict[str, Any]:
    """The manifest of the current-format `springtail trace` in `data_dir`; raises
    `DataFormatError` (one line, saying what to run) for anything else."""
    remake = f"`springtail trace --backend coq --out {data_dir}`"
    path = data_dir / MANIFEST_FILE
    if not data_dir.is_dir():
        raise DataFormatError(f"{data_dir} not found: trace first ({remake})")
    if not path.is_file():
        raise DataFormatError(
            f"{data_dir} has no {MANIFEST_FILE}, so it is not a springtail trace: make one "
            f"with {remake}"
        )
    manifest = _read_manifest(path)
    if manifest is None or manifest.get("backend") != "coq":
        raise DataFormatError(f"{path}: not the manifest of a springtail trace (backend coq)")
    version = manifest.get("format_version", 1)  # format 1 wrote no version
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataFormatError(f"{path}: format_version {version!r} is not a number")
    if version < TRACE_FORMAT_VERSION:
        raise DataFormatError(
            f"{data_dir} was made by an older springtail trace (format {version}, this version "
            f"needs {TRACE_FORMAT_VERSION}): re-run {remake}"
        )
    if version > TRACE_FORMAT_VERSION:
        raise DataFormatError(
            f"{data_dir} was made by a newer springtail trace (format {version}, this version "
            f"reads {TRACE_FORMAT_VERSION}): update springtail, or re-run {remake}"
        )
    return manifest


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _check_if_coq_trace(data_dir: Path) -> None:
    """`check_trace` for a folder holding a Coq trace manifest; anything else passes."""
    path = data_dir / MANIFEST_FILE
    manifest = _read_manifest(path) if path.is_file() else None
    if manifest is not None and manifest.get("backend") == "coq":
        check_trace(data_dir)


def split_theorems(data_dir: Path, split: str) -> list[Theorem]:
    """The theorems of a trace split (`STRATEGY/PART`, e.g. novel_files/test), ordered by a
    hash of their full name (as ReProver does), so the first K are a fixed, unbiased sample.
    Relative file paths are under the Coq standard library. The folder must pass
    `check_trace`."""
    check_trace(data_dir)
    path = data_dir / f"{split}.json"
    if not path.is_file():
        raise EnvError(
            f"{path} not found: trace first (`springtail trace --backend coq --out {data_dir}`), "
            "and name a split as STRATEGY/PART, e.g. novel_files/test or random/val"
        )
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for rec in records:
            file = Path(rec["file_path"])
            if not file.is_absolute():
                file = coqlib() / file
            name = rec.get("theorem") or rec["full_name"].split(".")[-1]
            out.append(Theorem(file, name, rec["full_name"]))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise DataFormatError(f"{path}: not a trace split ({type(e).__name__}: {e})") from None
    return sorted(out, key=lambda t: hashlib.sha256(t.label.encode()).hexdigest())


STATEMENT_HALVES = ("train", "held")


def statement_files(folder: Path) -> list[Theorem]:
    """One theorem per `.v` file of `folder`, miniF2F-Coq's layout: `NAME.v` holds its imports
    and `Theorem NAME : ...` (proof `Admitted`, ignored). In a fixed order (a hash of the
    name), so the first K are a fixed sample. Only names are read here; whether a file
    compiles and states `NAME` is the env's to find out (a file that does not is counted as
    discarded)."""
    if not folder.is_dir():
        raise DataFormatError(
            f"{folder} is not a folder: give a folder of .v files, one theorem each "
            "(e.g. a checkout of miniF2F-rocq's valid/ or test/)"
        )
    files = [f for f in folder.glob("*.v") if f.is_file()]
    if not files:
        raise DataFormatError(f"{folder} holds no .v files: give a folder of miniF2F-Coq files")
    out = [Theorem(f.resolve(), f.stem, f.stem) for f in files]
    return sorted(out, key=lambda t: hashlib.sha256(t.label.encode()).hexdigest())


def statement_half(theorems: list[Theorem], half: str) -> list[Theorem]:
    """The `train` or `held` half of a statement folder's theorems, by a hash of the name: the
    loop learns on `train` (its own verified proofs) and is measured on `held`."""
    if half not in STATEMENT_HALVES:
        raise ValueError(f"half must be one of {STATEMENT_HALVES}, got {half!r}")
    want = 0 if half == "train" else 1
    return [
        t for t in theorems if int(hashlib.sha256(t.label.encode()).hexdigest(), 16) % 2 == want
    ]


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
    "novel_files/train"), or a steps.jsonl file. A Coq trace of an older format, given as
    its folder or as a `STRATEGY/PART.json` inside it, is refused (`check_trace`)."""
    p = Path(path)
    if p.is_dir():
        if split is None:
            raise DataFormatError(f"{p} is a folder: name a split such as 'random/train'")
        _check_if_coq_trace(p)
        p = p / f"{split}.json"
    elif p.suffix == ".json" and p.parent.name in STRATEGIES:
        _check_if_coq_trace(p.parent.parent)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file")
    if p.suffix == ".jsonl":
        return list(_from_jsonl(p))
    return list(_from_benchmark(p))
