"""The two CSP tasks in one form the model and the trainer share: integer inputs and targets per
cell, structural links, seeded augmentation, and where the data comes from.

Sudoku: inputs 0..9 (0 blank), targets 0..8 (digit - 1), 81 cells, links = row/column/box peers.
Maze: inputs 0..3 over "# SG", targets 0..4 over "# SGo", 900 cells (30x30; generated mazes
may take another size), links = grid adjacency.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from prover.csp import maze, sudoku

TaskName = Literal["sudoku", "maze"]
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "datasets" / "csp"

DOWNLOAD_HINT = {
    "sudoku": (
        "Sudoku sets: tdoku's data.zip (https://github.com/t-dillon/tdoku) and Sudoku-Extreme "
        "(Hugging Face: sapientinc/sudoku-extreme); CSV with puzzle,solution or question,answer"
    ),
    "maze": (
        "Maze-Hard 30x30: Hugging Face sapientinc/maze-30x30-hard-1k; JSONL with question,answer "
        "(900-character strings over '# SG', path marked 'o')"
    ),
}


class CSPDataError(ValueError):
    """Missing or malformed puzzle data."""


@dataclass(frozen=True)
class CSPData:
    inputs: np.ndarray  # (P, N) int64
    targets: np.ndarray  # (P, N) int64
    source: str

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, idx: np.ndarray | slice) -> CSPData:
        return CSPData(self.inputs[idx], self.targets[idx], self.source)


@dataclass(frozen=True)
class TaskSpec:
    name: TaskName
    num_cells: int
    input_vocab: int
    num_classes: int
    links: Callable[[], np.ndarray]  # (N, N) bool structural links
    augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]

    def links_for(self, n: int) -> np.ndarray:
        """(n, n) bool structural links of a puzzle with n cells (mazes: any square size)."""
        if n == self.num_cells:
            return self.links()
        if self.name == "maze":
            size = math.isqrt(n)
            if size * size != n or not 2 <= size <= maze.SIZE_RANGE[1]:
                raise CSPDataError(f"a maze has size x size cells, size 2..60; got {n} cells")
            return maze.adjacency_links(size)
        raise CSPDataError(f"a {self.name} puzzle has {self.num_cells} cells, not {n}")

    def scored_cells(self, inputs: np.ndarray) -> np.ndarray:
        """Cells that count for cell accuracy: Sudoku blanks, maze open cells."""
        return inputs == 0 if self.name == "sudoku" else inputs == maze.OPEN


def _sudoku_augment(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    p, s = sudoku.augment(x.astype(np.int8), (y + 1).astype(np.int8), rng)
    return p.astype(np.int64), s.astype(np.int64) - 1


def _maze_augment(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    return maze.augment(x, y, rng)


TASKS: dict[str, TaskSpec] = {
    "sudoku": TaskSpec("sudoku", 81, 10, 9, sudoku.peer_links, _sudoku_augment),
    "maze": TaskSpec("maze", maze.N_CELLS, 4, 5, maze.adjacency_links, _maze_augment),
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise CSPDataError(f"unknown task {name!r}: choose sudoku or maze")
    return TASKS[name]


def _as_data(task: str, pair: tuple[np.ndarray, np.ndarray], source: str) -> CSPData:
    """Builder grids -> model form: int64, Sudoku targets shifted to 0..8."""
    inputs, targets = (a.astype(np.int64) for a in pair)
    return CSPData(inputs, targets - 1 if task == "sudoku" else targets, source)


def load(task: str, path: str | Path, limit: int | None = None) -> CSPData:
    """Puzzles and solutions from a CSV (Sudoku) or JSONL (maze) in the shared formats."""
    get_task(task)
    if not Path(path).exists():
        raise CSPDataError(f"{path} does not exist. {DOWNLOAD_HINT[task]}")
    try:
        if task == "sudoku":
            return _as_data(task, sudoku.load_csv(path, limit), str(path))
        return _as_data(task, maze.load_jsonl(path, limit), str(path))
    except (sudoku.SudokuFormatError, maze.MazeFormatError) as e:
        raise CSPDataError(str(e)) from None


def generated(
    task: str,
    n: int,
    seed: int,
    *,
    givens: tuple[int, int] = (30, 40),
    min_path: int = 100,
    size: int = maze.SIZE,
) -> CSPData:
    """n generated puzzles (Sudoku with givens in [lo, hi], size x size mazes with paths >=
    min_path), cached in datasets/csp/ by their parameters. Parameters the generator cannot
    meet are refused before anything is generated (CSPDataError)."""
    get_task(task)
    try:
        _check_generated(task, n, seed, givens, min_path, size)
    except ValueError as e:
        raise CSPDataError(f"cannot generate {task} puzzles: {e}") from None
    key = f"{task}-n{n}-seed{seed}-" + (
        f"givens{givens[0]}-{givens[1]}" if task == "sudoku" else f"minpath{min_path}"
    )
    if task == "maze" and size != maze.SIZE:
        key += f"-size{size}"
    path = CACHE / f"{key}.npz"
    if path.exists():
        with np.load(path) as f:
            return CSPData(f["inputs"], f["targets"], f"generated:{key}")
    try:
        pair = (sudoku.generate_set(n, givens, seed) if task == "sudoku"
                else maze.generate_set(n, min_path, seed, size))  # fmt: skip
    except ValueError as e:  # bounded attempts ran out
        raise CSPDataError(f"cannot generate {task} puzzles: {e}") from None
    data = _as_data(task, pair, f"generated:{key}")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, inputs=data.inputs, targets=data.targets)
    tmp.replace(path)  # atomic: a killed run never leaves a half-written cache
    return data


def _check_generated(
    task: str, n: int, seed: int, givens: tuple[int, int], min_path: int, size: int
) -> None:
    """ValueError for parameters the generators cannot meet."""
    if n < 1 or seed < 0:
        raise ValueError(f"N must be at least 1 and SEED at least 0, got N={n}, SEED={seed}")
    if task == "sudoku":
        sudoku.check_givens(givens)
    else:
        maze.check_min_path(min_path, size)


def _givens(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep:
        raise ValueError(f"givens {text!r} are not LO-HI")
    return int(lo), int(hi)


SPEC_USAGE = (
    "use generated:N:SEED[:LO-HI] (sudoku) or generated:N:SEED[:MINPATH[:SIZE]] (maze, "
    "SIZE x SIZE cells, 30 by default)"
)


def resolve_data(task: str, spec: str, limit: int | None = None) -> CSPData:
    """A data spec: a file path, or `generated:N:SEED` (Sudoku: `generated:N:SEED:LO-HI`
    givens; maze: `generated:N:SEED:MINPATH[:SIZE]`); `limit` keeps the first puzzles."""
    if limit is not None and limit < 1:
        raise CSPDataError(f"limit must be at least 1, got {limit}")
    if spec.startswith("generated:"):
        data = _generated_from_spec(task, spec)
    else:
        data = load(task, spec, limit)
    return data if limit is None else data.subset(slice(0, limit))


def _generated_from_spec(task: str, spec: str) -> CSPData:
    parts = spec.split(":")
    try:
        most = 4 if task == "sudoku" else 5
        if not 3 <= len(parts) <= most:
            raise ValueError(f"expected 3 to {most} ':'-separated fields, got {len(parts)}")
        n, seed = int(parts[1]), int(parts[2])
        extra = parts[3] if len(parts) >= 4 else None
        if task == "sudoku":
            return generated(task, n, seed, givens=_givens(extra) if extra else (30, 40))
        size = int(parts[4]) if len(parts) == 5 else maze.SIZE
        return generated(task, n, seed, min_path=int(extra) if extra else 100, size=size)
    except CSPDataError as e:
        raise CSPDataError(f"bad data spec {spec!r}: {e}") from None
    except ValueError as e:
        raise CSPDataError(f"bad data spec {spec!r} ({e}): {SPEC_USAGE}") from None


def fingerprint(data: CSPData) -> str:
    """Short content hash, recorded with results."""
    h = hashlib.sha256(data.inputs.tobytes() + data.targets.tobytes()).hexdigest()
    return h[:16]
