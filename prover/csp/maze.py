"""Square mazes (30x30 in the shared data; any size from the generator): parsing the shared
JSONL, a seeded generator filtered by shortest-path length, dihedral augmentations, the exact
(BFS) solver, path checks, and the structural links.

A grid is a (size * size,) int8 array, row-major (the size is read from its length), over
TOKENS: 0 '#' wall, 1 ' ' open, 2 'S' start, 3 'G' goal, 4 'o' path (answers only). Files
(`../shared/data/maze/maze30_hard_*.jsonl`, HRM's Maze-Hard): one JSON object per line with
"question" and "answer" (900-character strings).

Maze-Hard labels are one shortest path among many: none of the first 200 test mazes has a
unique one. Exact match against the label (the published metric) therefore also rewards
reproducing the dataset's tie-breaking; `is_optimal_path` checks the weaker property that a
prediction is some shortest path. The generator makes perfect mazes (one path between any two
cells), where the two coincide.
"""

from __future__ import annotations

import json
import math
from collections import deque
from functools import lru_cache
from pathlib import Path

import numpy as np

SIZE = 30
N_CELLS = SIZE * SIZE
SIZE_RANGE = (5, 60)  # sizes the generator makes; files may hold mazes from 2x2 up to the top
TOKENS = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(5)
_CODE = {c: i for i, c in enumerate(TOKENS)}


class MazeFormatError(ValueError):
    """A maze file or string is not in the supported format."""


def side(grid: np.ndarray | str) -> int:
    """The side of a square grid from its length (ValueError if it is not a square >= 2x2)."""
    n = math.isqrt(len(grid))
    if n < 2 or n * n != len(grid):
        raise ValueError(f"a maze has size x size cells, size >= 2; got {len(grid)} cells")
    return n


def parse_grid(text: str, allow_path: bool) -> np.ndarray:
    """A maze string of a square size up to SIZE_RANGE's (the shared files hold 30x30)."""
    alphabet = TOKENS if allow_path else TOKENS[:4]
    n = math.isqrt(len(text))
    if n * n != len(text) or not 2 <= n <= SIZE_RANGE[1] or any(c not in alphabet for c in text):
        raise MazeFormatError(
            f"not a square maze of size x size characters, size 2..{SIZE_RANGE[1]} (e.g. "
            f"{N_CELLS}), over {alphabet!r}: {text[:40]!r}..."
        )
    return np.array([_CODE[c] for c in text], dtype=np.int8)


def format_grid(grid: np.ndarray) -> str:
    return "".join(TOKENS[int(t)] for t in grid)


def load_jsonl(path: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(questions, answers), each (P, size^2) int8 (900 for the shared files), from HRM-style
    JSONL ({"question", "answer"}). Every answer is checked to be a path from S to G through
    the question's open cells, and one file holds one size."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MazeFormatError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    questions: list[np.ndarray] = []
    first_size: int | None = None
    answers: list[np.ndarray] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if limit is not None and len(questions) >= limit:
            break
        try:
            question, answer = _parse_record(line)
        except MazeFormatError as e:
            raise MazeFormatError(f"{path}:{line_no}: {e}") from None
        if first_size is not None and len(question) != first_size:
            raise MazeFormatError(
                f"{path}:{line_no}: a {side(question)}x{side(question)} maze among "
                f"{side(answers[0])}x{side(answers[0])} ones; one file holds one size"
            )
        first_size = len(question)
        questions.append(question)
        answers.append(answer)
    if not questions:
        raise MazeFormatError(f"{path}: no mazes")
    return np.stack(questions), np.stack(answers)


def _parse_record(line: str) -> tuple[np.ndarray, np.ndarray]:
    """One JSONL line -> (question, answer), the answer checked against the question."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise MazeFormatError(f"not JSON ({e})") from None
    for key in ("question", "answer"):
        if not isinstance(record, dict) or not isinstance(record.get(key), str):
            raise MazeFormatError(f"the record has no {key!r} string")
    question = parse_grid(record["question"], allow_path=False)
    answer = parse_grid(record["answer"], allow_path=True)
    if len(answer) != len(question):
        raise MazeFormatError("the question and the answer have different sizes")
    problem = path_problem(answer, question)
    if problem is not None:
        raise MazeFormatError(f"the answer is not a path through the question: {problem}")
    return question, answer


# --- shortest paths ---


def _neighbours(i: int, size: int) -> list[int]:
    r, c = divmod(i, size)
    out = []
    if r > 0:
        out.append(i - size)
    if r < size - 1:
        out.append(i + size)
    if c > 0:
        out.append(i - 1)
    if c < size - 1:
        out.append(i + 1)
    return out


@lru_cache(maxsize=8)
def neighbours(size: int) -> list[list[int]]:
    """4-neighbours of every cell of a size x size grid."""
    return [_neighbours(i, size) for i in range(size * size)]


NEIGHBOURS = neighbours(SIZE)


def _bfs(
    question: np.ndarray, stats: dict[str, int] | None = None
) -> tuple[dict[int, int], int, int]:
    """BFS from S until G is taken off the queue; `stats["nodes"]` counts the cells taken."""
    stats = {} if stats is None else stats
    stats["nodes"] = 0
    adjacent = neighbours(side(question))
    start, goal = int(np.argmax(question == START)), int(np.argmax(question == GOAL))
    parent = {start: start}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        stats["nodes"] += 1
        if u == goal:
            break
        for v in adjacent[u]:
            if v not in parent and question[v] != WALL:
                parent[v] = u
                queue.append(v)
    return parent, start, goal


def shortest_path_length(question: np.ndarray) -> int | None:
    """Edges on a shortest S -> G path; None when G cannot be reached."""
    parent, start, goal = _bfs(question)
    if goal not in parent:
        return None
    n, u = 0, goal
    while u != start:
        u, n = parent[u], n + 1
    return n


def solve(question: np.ndarray, stats: dict[str, int] | None = None) -> np.ndarray | None:
    """The question with one shortest S -> G path marked PATH (BFS); None if unreachable.
    `stats["nodes"]` (when given) counts the cells the BFS took off its queue."""
    parent, start, goal = _bfs(question, stats)
    if goal not in parent:
        return None
    answer = question.copy()
    u = parent[goal]
    while u != start:
        answer[u] = PATH
        u = parent[u]
    return answer


def is_optimal_path(prediction: np.ndarray, question: np.ndarray) -> bool:
    """The prediction keeps every non-open cell, and its PATH cells form a shortest S -> G path."""
    if (prediction[question != OPEN] != question[question != OPEN]).any():
        return False
    if not np.isin(prediction[question == OPEN], (OPEN, PATH)).all():
        return False
    best = shortest_path_length(question)
    path = set(np.flatnonzero(prediction == PATH).tolist())
    if best is None or len(path) != best - 1:
        return False
    walk = prediction.copy()
    walk[prediction == OPEN] = WALL  # only S, G and the marked path are passable
    return shortest_path_length(walk) == best


# --- path checks ---


def _place(i: int, size: int) -> str:
    r, c = divmod(i, size)
    return f"row {r + 1}, column {c + 1}"


def path_problem(answer: np.ndarray, question: np.ndarray) -> str | None:
    """Why `answer` is not `question` with one path from S to G marked through open cells (the
    first problem found, 1-based places), or None. The path need not be a shortest one."""
    for token, name in ((START, "S"), (GOAL, "G")):
        if int((question == token).sum()) != 1:
            return f"the question has {int((question == token).sum())} {name} cells, not 1"
    changed = np.flatnonzero((answer != question) & ((question != OPEN) | (answer != PATH)))
    if changed.size:
        i, where = int(changed[0]), _place(int(changed[0]), side(question))
        return (
            f"{where} is {TOKENS[answer[i]]!r} in the answer but {TOKENS[question[i]]!r} "
            "in the question (only open cells may become 'o')"
        )
    return _walk_problem(answer)


def _walk_problem(answer: np.ndarray) -> str | None:
    """Walk from S along marked cells: S and G must have one marked neighbour, each path cell
    two, and the walk must reach G through every path cell."""
    size = side(answer)
    adjacent = neighbours(size)
    marked = np.isin(answer, (START, GOAL, PATH))
    for i in np.flatnonzero(marked).tolist():
        degree = sum(bool(marked[j]) for j in adjacent[i])
        want = 2 if answer[i] == PATH else 1
        if degree != want:
            return (
                f"{_place(i, size)} ({TOKENS[answer[i]]!r}) has {degree} marked neighbours, not "
                f"{want}: the 'o' cells do not form one path from S to G"
            )
    prev, cur, steps = -1, int(np.argmax(answer == START)), 0
    while answer[cur] != GOAL:
        prev, cur = cur, next(j for j in adjacent[cur] if marked[j] and j != prev)
        steps += 1
    if steps - 1 != int((answer == PATH).sum()):
        return "some 'o' cells are not on the path from S to G"
    return None


# --- generator ---


# Over 3000 generated 30x30 mazes 7.8% of S-G paths have >= 200 edges (the longest ~310), so
# MAX_TRIES mazes all falling short of 200 has probability ~1e-7. Other sizes scale the cap
# with the number of lattice cells (`max_min_path`).
MIN_PATH_RANGE = (1, 200)
MAX_TRIES = 200  # mazes per accepted one; each takes about a millisecond


def max_min_path(size: int) -> int:
    """The longest min_path the generator accepts for a size x size maze."""
    lattice = ((size + 1) // 2) ** 2
    return max(1, MIN_PATH_RANGE[1] * lattice // ((SIZE + 1) // 2) ** 2)


def check_min_path(min_path: int, size: int = SIZE) -> None:
    """ValueError unless the generator can reach paths of `min_path` edges at this size."""
    lo, hi = MIN_PATH_RANGE[0], max_min_path(size)
    if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]:
        raise ValueError(f"the maze size must be in {SIZE_RANGE[0]}..{SIZE_RANGE[1]}, got {size}")
    if min_path < lo:
        raise ValueError(f"min_path must be at least {lo}, got {min_path}")
    if min_path > hi:
        raise ValueError(
            f"min_path {min_path} is over {hi}: a random S-G path in a perfect {size}x{size} "
            f"maze rarely has more than {hi} edges"
        )


def generate(
    min_path: int, rng: np.random.Generator, max_tries: int = MAX_TRIES, size: int = SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """A perfect size x size maze (random depth-first spanning tree on the lattice of even
    cells, walls elsewhere) with S and G at random cells whose path has >= min_path edges;
    ValueError after `max_tries` mazes without one."""
    check_min_path(min_path, size)
    for _ in range(max_tries):
        grid = np.full((size, size), WALL, dtype=np.int8)
        cells = [(r, c) for r in range(0, size, 2) for c in range(0, size, 2)]
        r0, c0 = cells[int(rng.integers(len(cells)))]
        grid[r0, c0] = OPEN
        stack = [(r0, c0)]
        while stack:
            r, c = stack[-1]
            options = [
                (r + dr, c + dc, dr, dc)
                for dr, dc in ((2, 0), (-2, 0), (0, 2), (0, -2))
                if 0 <= r + dr < size and 0 <= c + dc < size and grid[r + dr, c + dc] == WALL
            ]
            if not options:
                stack.pop()
                continue
            nr, nc, dr, dc = options[int(rng.integers(len(options)))]
            grid[r + dr // 2, c + dc // 2] = OPEN
            grid[nr, nc] = OPEN
            stack.append((nr, nc))
        question = grid.reshape(-1)
        a, b = rng.choice(len(cells), size=2, replace=False)
        question[cells[a][0] * size + cells[a][1]] = START
        question[cells[b][0] * size + cells[b][1]] = GOAL
        length = shortest_path_length(question)
        if length is not None and length >= min_path:
            answer = solve(question)
            assert answer is not None
            return question, answer
    raise ValueError(f"no maze with a path of >= {min_path} edges in {max_tries} tries")


def generate_set(
    n: int, min_path: int, seed: int, size: int = SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """(questions, answers) of n generated size x size mazes."""
    check_min_path(min_path, size)  # up front, not after the first mazes
    rng = np.random.default_rng(seed)
    pairs = [generate(min_path, rng, size=size) for _ in range(n)]
    return np.stack([q for q, _ in pairs]), np.stack([a for _, a in pairs])


# --- augmentations ---


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Transform k in 0..7 of the square: rotate by 90 * (k % 4) degrees, then flip if k >= 4."""
    n = side(grid)
    g = np.rot90(grid.reshape(n, n), k % 4)
    if k >= 4:
        g = g[:, ::-1]
    return np.ascontiguousarray(g).reshape(-1)


def augment(
    question: np.ndarray, answer: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(8))
    return dihedral(question, k), dihedral(answer, k)


# --- structural links ---


def adjacency_links(size: int = SIZE) -> np.ndarray:
    """(size^2, size^2) bool: 4-neighbour grid adjacency."""
    links = np.zeros((size * size, size * size), dtype=bool)
    for i, ns in enumerate(neighbours(size)):
        links[i, ns] = True
    return links
