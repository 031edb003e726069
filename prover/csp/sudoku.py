"""Sudoku: parsing the shared CSV formats, a seeded generator of unique-solution puzzles,
validity-preserving augmentations, the exact solver, and the structural links.

A grid is a (81,) int8 numpy array, row-major, digits 1..9 and 0 for a blank. Files:
- tdoku sets (`../shared/data/sudoku/puzzles*.csv`): header `puzzle,solution,...`;
- Sudoku-Extreme (`sudoku_extreme_train_1k.csv`): header `index,question,answer,...`;
81-character strings with '.' (or '0') for a blank.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

N_CELLS = 81
ROWS = np.arange(N_CELLS) // 9
COLS = np.arange(N_CELLS) % 9
BOXES = (ROWS // 3) * 3 + COLS // 3


class SudokuFormatError(ValueError):
    """A puzzle file or string is not in a supported Sudoku format."""


def parse_grid(text: str) -> np.ndarray:
    """81-character string ('.' or '0' = blank) -> (81,) int8."""
    text = text.strip()
    if len(text) != N_CELLS or any(c not in ".0123456789" for c in text):
        raise SudokuFormatError(f"not an 81-character Sudoku string over '.0-9': {text[:90]!r}")
    return np.array([0 if c == "." else int(c) for c in text], dtype=np.int8)


def format_grid(grid: np.ndarray) -> str:
    return "".join("." if d == 0 else str(int(d)) for d in grid)


def load_csv(path: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(puzzles, solutions), each (P, 81) int8, from a tdoku-style (`puzzle,solution`) or
    Sudoku-Extreme (`question,answer`) CSV. Every solution is checked against its puzzle."""
    path = Path(path)
    try:
        handle = path.open(newline="")
    except OSError as e:
        raise SudokuFormatError(f"cannot read {path}: {e.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            pairs = _read_rows(path, reader, limit)
        except (csv.Error, UnicodeDecodeError) as e:
            raise SudokuFormatError(f"{path}:{reader.line_num}: not a readable CSV ({e})") from None
    if not pairs:
        raise SudokuFormatError(f"{path}: no puzzles")
    return np.stack([p for p, _ in pairs]), np.stack([s for _, s in pairs])


def _read_rows(
    path: Path, reader: csv.DictReader[str], limit: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    q_key, a_key = _columns(path, reader.fieldnames or [])
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for row in reader:
        if limit is not None and len(pairs) >= limit:
            break
        try:
            pairs.append(_parse_row(row, q_key, a_key))
        except SudokuFormatError as e:
            raise SudokuFormatError(f"{path}:{reader.line_num}: {e}") from None
    return pairs


def _columns(path: Path, fields: Sequence[str]) -> tuple[str, str]:
    """The (puzzle, solution) column names of a CSV header."""
    if {"puzzle", "solution"} <= set(fields):
        return "puzzle", "solution"
    if {"question", "answer"} <= set(fields):
        return "question", "answer"
    raise SudokuFormatError(
        f"{path}: expected a header with puzzle,solution or question,answer; got {list(fields)}"
    )


def _parse_row(row: dict[str, str], q_key: str, a_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CSV record -> (puzzle, solution), the solution checked against the puzzle."""
    for key in (q_key, a_key):
        value = row.get(key)  # DictReader fills the missing fields of a short row with None
        if not isinstance(value, str) or not value.strip():
            raise SudokuFormatError(f"the row has no {key} (an empty or missing {key!r} column)")
    puzzle, solution = parse_grid(row[q_key]), parse_grid(row[a_key])
    problem = solution_problem(solution, puzzle)
    if problem is not None:
        raise SudokuFormatError(f"the {a_key} does not solve the {q_key}: {problem}")
    return puzzle, solution


# --- validity and the exact solver ---


def is_solution(solution: np.ndarray, puzzle: np.ndarray) -> bool:
    """A full grid, every row/column/box a permutation of 1..9, agreeing with the givens."""
    return solution_problem(solution, puzzle) is None


GROUP_NAMES = (("row", ROWS), ("column", COLS), ("box", BOXES))


def solution_problem(solution: np.ndarray, puzzle: np.ndarray) -> str | None:
    """Why `solution` does not solve `puzzle` (the first broken rule, 1-based places), or None."""
    if solution.shape != (N_CELLS,) or (solution < 1).any() or (solution > 9).any():
        return "it is not a full grid of digits 1-9"
    wrong = np.flatnonzero((puzzle != 0) & (solution != puzzle))
    if wrong.size:
        i = int(wrong[0])
        return (
            f"row {ROWS[i] + 1}, column {COLS[i] + 1} is {solution[i]}, but the puzzle gives "
            f"{puzzle[i]}"
        )
    for name, groups in GROUP_NAMES:
        for g in range(9):
            digits = solution[groups == g]
            if len(set(digits.tolist())) != 9:
                twice = int(np.bincount(digits, minlength=10).argmax())
                return f"{name} {g + 1} has {twice} more than once"
    return None


PEERS = [
    sorted(
        {
            j
            for j in range(N_CELLS)
            if j != i and (ROWS[j] == ROWS[i] or COLS[j] == COLS[i] or BOXES[j] == BOXES[i])
        }
    )
    for i in range(N_CELLS)
]
ALL_DIGITS = 0x3FE  # bits 1..9


def _candidates(grid: list[int], i: int) -> int:
    used = 0
    for j in PEERS[i]:
        used |= 1 << grid[j]
    return ALL_DIGITS & ~used


def solve(
    puzzle: np.ndarray, limit: int = 1, stats: dict[str, int] | None = None
) -> list[np.ndarray]:
    """Up to `limit` solutions: propagation (naked and hidden singles), then search on the
    cell with the fewest candidates. `stats["nodes"]` (when given) counts the search's nodes:
    one per propagate-and-branch call, 0 when the givens clash."""
    stats = {} if stats is None else stats
    stats["nodes"] = 0
    grid = [int(d) for d in puzzle]
    for i, d in enumerate(grid):  # givens must not clash
        if d and any(grid[j] == d for j in PEERS[i]):
            return []
    found: list[np.ndarray] = []
    _search(grid, limit, found, stats)
    return found


UNITS = [np.flatnonzero(groups == g).tolist() for groups in (ROWS, COLS, BOXES) for g in range(9)]


def _propagate(grid: list[int], assigned: list[int]) -> dict[int, int] | None:
    """Fill naked singles (a cell with one candidate) and hidden singles (a digit with one
    place in a unit) until neither applies; the candidates of the cells left, or None on a
    contradiction. Filled cells are appended to `assigned` so the caller can undo them."""
    while True:
        cands: dict[int, int] = {}
        for i in range(N_CELLS):
            if grid[i] == 0:
                c = _candidates(grid, i)
                if c == 0:
                    return None
                cands[i] = c
        singles = [(i, c.bit_length() - 1) for i, c in cands.items() if c & (c - 1) == 0]
        if singles:
            i, d = singles[0]  # one at a time: two singles may clash
            grid[i] = d
            assigned.append(i)
            continue
        hidden = _hidden_single(grid, cands)
        if hidden is None:
            return None
        if hidden == (-1, 0):
            return cands
        grid[hidden[0]] = hidden[1]
        assigned.append(hidden[0])


def _hidden_single(grid: list[int], cands: dict[int, int]) -> tuple[int, int] | None:
    """(cell, digit) of a hidden single, (-1, 0) if there is none, None on a contradiction."""
    for unit in UNITS:
        placed = 0
        for i in unit:
            placed |= 1 << grid[i]
        for d in range(1, 10):
            if placed >> d & 1:
                continue
            where = [i for i in unit if grid[i] == 0 and cands[i] >> d & 1]
            if not where:
                return None
            if len(where) == 1:
                return where[0], d
    return -1, 0


def _search(grid: list[int], limit: int, found: list[np.ndarray], stats: dict[str, int]) -> None:
    stats["nodes"] += 1
    assigned: list[int] = []
    cands = _propagate(grid, assigned)
    if cands is not None:
        if not cands:
            found.append(np.array(grid, dtype=np.int8))
        else:
            best = min(cands, key=lambda i: cands[i].bit_count())  # fewest candidates first
            for d in range(1, 10):
                if cands[best] >> d & 1 and len(found) < limit:
                    grid[best] = d
                    _search(grid, limit, found, stats)
                    grid[best] = 0
    for j in assigned:
        grid[j] = 0


def count_solutions(puzzle: np.ndarray, cap: int = 2) -> int:
    return len(solve(puzzle, limit=cap))


# --- generator ---


def random_solution(rng: np.random.Generator) -> np.ndarray:
    """A uniformly shuffled valid full grid: a fixed pattern under a random symmetry."""
    base = np.array(
        [(3 * (r % 3) + r // 3 + c) % 9 + 1 for r in range(9) for c in range(9)], dtype=np.int8
    )
    return augment(base, base, rng)[0]


# Greedy removal from a random full grid ends at a minimal puzzle with 21-27 givens (median
# 24, measured over 150 grids); 27% of grids get down to 23, so MAX_TRIES grids all failing at
# 23 has probability ~1e-7. Fewer givens would need a different generator; 81 leaves nothing
# to solve.
GIVENS_RANGE = (23, 80)
MAX_TRIES = 50  # grids per puzzle; each is one pass of <= 81 uniqueness checks (~0.1 s)


def check_givens(givens: tuple[int, int]) -> None:
    """ValueError unless [lo, hi] is a non-empty range the generator can reach."""
    lo, hi = givens
    if lo > hi:
        raise ValueError(f"the givens range {lo}-{hi} is empty: LO must be <= HI")
    if lo < GIVENS_RANGE[0]:
        raise ValueError(
            f"givens {lo}-{hi}: the generator cannot reach fewer than {GIVENS_RANGE[0]} (it "
            "removes givens while the solution stays unique); for fewer, use a file such as "
            "tdoku's 17-clue set"
        )
    if hi > GIVENS_RANGE[1]:
        raise ValueError(
            f"givens {lo}-{hi}: at most {GIVENS_RANGE[1]} (81 givens leave nothing to solve)"
        )


def generate(
    num_givens: int, rng: np.random.Generator, max_tries: int = MAX_TRIES
) -> tuple[np.ndarray, np.ndarray]:
    """A puzzle with exactly `num_givens` givens and a unique solution, and that solution.

    Removes givens in random order, keeping a removal only if the solution stays unique; a
    grid that cannot get down to `num_givens` is discarded and another is drawn, at most
    `max_tries` times (then ValueError)."""
    check_givens((num_givens, num_givens))
    for _ in range(max_tries):
        solution = random_solution(rng)
        puzzle = solution.copy()
        for i in rng.permutation(N_CELLS):
            if int((puzzle != 0).sum()) == num_givens:
                return puzzle, solution
            keep = puzzle[i]
            puzzle[i] = 0
            if count_solutions(puzzle) != 1:
                puzzle[i] = keep
        if int((puzzle != 0).sum()) == num_givens:
            return puzzle, solution
    raise ValueError(
        f"no unique puzzle with {num_givens} givens in {max_tries} grids; ask for more givens"
    )


def generate_set(n: int, givens: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(puzzles, solutions) of n puzzles, their givens drawn uniformly from [lo, hi]."""
    check_givens(givens)  # up front, not after the first puzzles
    rng = np.random.default_rng(seed)
    pairs = [generate(int(rng.integers(givens[0], givens[1] + 1)), rng) for _ in range(n)]
    return np.stack([p for p, _ in pairs]), np.stack([s for _, s in pairs])


# --- augmentations (pure: new arrays, the inputs untouched) ---


def _cell_permutation(rng: np.random.Generator) -> np.ndarray:
    """A validity-preserving permutation of cells: bands, rows within bands, stacks, columns
    within stacks, and a transpose with probability 1/2. Returns new_grid = grid[perm]."""
    bands = rng.permutation(3)
    rows = np.concatenate([b * 3 + rng.permutation(3) for b in bands])
    stacks = rng.permutation(3)
    cols = np.concatenate([s * 3 + rng.permutation(3) for s in stacks])
    perm = rows[:, None] * 9 + cols[None, :]  # (9, 9): new (r, c) takes old (rows[r], cols[c])
    if rng.random() < 0.5:
        perm = perm.T
    return perm.reshape(-1)


def augment(
    puzzle: np.ndarray, solution: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The same random symmetry (digit relabelling + cell permutation) applied to both grids."""
    digits = np.concatenate([[0], rng.permutation(9) + 1]).astype(np.int8)
    perm = _cell_permutation(rng)
    return digits[puzzle[perm]], digits[solution[perm]]


# --- structural links ---


def peer_links() -> np.ndarray:
    """(81, 81) bool: cells i != j that share a row, a column or a box."""
    same = (
        (ROWS[:, None] == ROWS[None, :])
        | (COLS[:, None] == COLS[None, :])
        | (BOXES[:, None] == BOXES[None, :])
    )
    return same & ~np.eye(N_CELLS, dtype=bool)
