"""Verified CSP solving: the model proposes, a checker verifies, a depth-first search branches;
the answer is a checked solution or an explicit abstention, never an unverified grid.

Symbols: P puzzles, N cells, C classes; p (N, C) the softmax of a node's last-step logits (the
model's per-cell confidence); a *node* is one model call; `fixed` (N,) int64 is a node's
decisions in grid form, -1 where a cell is undecided.

The search mirrors the prover's propose / verify / search:
- propose: argmax of p, every fixed cell overridden by its fixed value; verify: the task's
  checker against the ORIGINAL puzzle (`is_valid`);
- on failure, branch on the least confident undecided cell, children in the model's order:
  Sudoku, each digit consistent with the fixed peers, fixed as a given in the input; maze,
  "on path" (forced PATH in the proposal) and "off path" (a wall in the input: a sound hint,
  since the answer is checked against the question without it);
- a child no completion can satisfy is pruned before it costs a model call; a child continues
  its parent's recurrence (`carry=`) for `steps_per_node` steps with its own input;
- the node budget spent, or the tree exhausted: abstain. Every solution is checked once more
  against the caller's puzzle right before it is returned, so a search bug can only abstain.

`exact_search` counts the exact solvers' nodes for comparison: Sudoku, calls of the
propagate-and-branch recursion of `sudoku.solve`; maze, cells the BFS takes off its queue.
"""

from __future__ import annotations

import abc
import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from prover.csp import maze, sudoku
from prover.csp.task import get_task

Status = Literal["solved", "abstained"]


@dataclass(frozen=True)
class Result:
    """One puzzle's outcome; `solution` is set exactly when `status` is "solved"."""

    solution: np.ndarray | None  # Sudoku (81,) int8 digits 1-9; maze (N,) int8 over '# SGo'
    nodes: int  # model calls spent on this puzzle (the batched root counts as one)
    status: Status

    def __post_init__(self) -> None:
        if (self.solution is None) != (self.status == "abstained"):
            raise ValueError("a solved result carries a solution and an abstention none")


class Proposal(Protocol):
    """What a model call returns (`CSPOutput` is one)."""

    @property
    def logits(self) -> list[torch.Tensor]: ...  # (B, N, C) per step, the last = the answer

    @property
    def carry(self) -> Any: ...  # the recurrent state (None for a non-recurrent model)


Proposer = Callable[..., Proposal]  # model(inputs (B, N) long, num_steps=, carry=) -> Proposal


def is_valid(task: str, solution: np.ndarray, puzzle: np.ndarray) -> bool:
    """The task's checker on grid forms: Sudoku `is_solution`, maze `is_optimal_path`."""
    if task == "sudoku":
        return sudoku.is_solution(solution.astype(np.int8), puzzle.astype(np.int8))
    return maze.is_optimal_path(solution.astype(np.int8), puzzle.astype(np.int8))


# --- the two search domains ---


class _Domain(abc.ABC):
    """One puzzle's search space: the model's input of a node, its proposal, its children."""

    task: str

    def __init__(self, puzzle: np.ndarray) -> None:
        self.puzzle = puzzle.astype(np.int64)  # (N,) the original, in grid form

    @abc.abstractmethod
    def root(self) -> np.ndarray:
        """(N,) the root's fixed cells (-1 undecided)."""

    @abc.abstractmethod
    def inputs(self, fixed: np.ndarray) -> np.ndarray:
        """(N,) int64 the model's input at a node."""

    @abc.abstractmethod
    def guess(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """probs (N, C) -> the model's full assignment (N,) in grid form and a confidence (N,)."""

    @abc.abstractmethod
    def options(self, fixed: np.ndarray, cell: int, probs: np.ndarray) -> list[int]:
        """Values for an undecided cell, the model's favourite first."""

    @abc.abstractmethod
    def feasible(self, fixed: np.ndarray) -> bool:
        """False only when no solution agrees with `fixed` (a sound prune)."""

    def check(self, grid: np.ndarray) -> bool:
        """The task's checker against the original puzzle."""
        return is_valid(self.task, grid, self.puzzle)

    def consistent(self, fixed: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """probs with the values the fixed cells rule out removed (forward checking); as is
        by default."""
        return probs

    def propose(self, fixed: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """(N,) the proposal: the model's assignment among the values the fixed cells allow,
        with the fixed cells overridden."""
        return np.where(fixed >= 0, fixed, self.guess(self.consistent(fixed, probs))[0])

    def children(self, fixed: np.ndarray, probs: np.ndarray) -> list[np.ndarray]:
        """Feasible children, best first: one value each for the least confident undecided
        cell; none when the node itself is infeasible or fully decided."""
        undecided = np.flatnonzero(fixed < 0)
        if not undecided.size or not self.feasible(fixed):
            return []
        probs = self.consistent(fixed, probs)
        cell = int(undecided[np.argmin(self.guess(probs)[1][undecided])])
        kids = []
        for value in self.options(fixed, cell, probs):
            kid = fixed.copy()
            kid[cell] = value
            if self.feasible(kid):
                kids.append(kid)
        return kids


PEER_MATRIX = sudoku.peer_links().astype(np.int64)  # (81, 81)


class _SudokuDomain(_Domain):
    """Decisions are digits 1-9; the input holds the givens and the fixed digits."""

    task = "sudoku"

    def root(self) -> np.ndarray:
        return np.where(self.puzzle > 0, self.puzzle, -1)

    def inputs(self, fixed: np.ndarray) -> np.ndarray:
        return np.maximum(fixed, 0)

    def guess(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return probs.argmax(-1) + 1, probs.max(-1)

    def options(self, fixed: np.ndarray, cell: int, probs: np.ndarray) -> list[int]:
        used = {int(fixed[j]) for j in sudoku.PEERS[cell]}
        digits = [d for d in range(1, 10) if d not in used]
        return sorted(digits, key=lambda d: -probs[cell, d - 1])

    def consistent(self, fixed: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Each undecided cell's probabilities over the digits no fixed peer holds,
        renormalised (a cell with none left keeps its own: `feasible` prunes that node)."""
        allowed = ~self._used(fixed)  # (81, 9)
        masked = probs * allowed
        total = masked.sum(-1, keepdims=True)
        return np.where(total > 0, masked / np.where(total > 0, total, 1.0), probs)

    @staticmethod
    def _used(fixed: np.ndarray) -> np.ndarray:
        """(81, 9) bool: digit d - 1 is held by a fixed peer of the cell."""
        onehot = np.eye(10, dtype=np.int64)[np.maximum(fixed, 0)]  # (81, 10)
        return (PEER_MATRIX @ onehot)[:, 1:] > 0

    def feasible(self, fixed: np.ndarray) -> bool:
        """No fixed digit repeats in a peer, and every undecided cell has a digit left."""
        used = self._used(fixed)  # (81, 9): digit d - 1 taken by a fixed peer
        is_fixed = fixed > 0
        clash = used[is_fixed, fixed[is_fixed] - 1].any()
        return not clash and bool((~used[~is_fixed]).any(1).all())


def _distances(passable: np.ndarray, source: int) -> np.ndarray:
    """(N,) BFS edge counts from `source` through passable cells; -1 where unreachable."""
    nbrs = maze.neighbours(maze.side(passable))
    dist = np.full(len(passable), -1, dtype=np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in nbrs[u]:
            if dist[v] < 0 and passable[v]:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


class _MazeDomain(_Domain):
    """Decisions are PATH ("on path") or OPEN ("off path": a wall in the input) per open cell."""

    task = "maze"

    def __init__(self, puzzle: np.ndarray) -> None:
        super().__init__(puzzle)
        self.open = self.puzzle == maze.OPEN
        self.start = int(np.argmax(self.puzzle == maze.START))
        self.goal = int(np.argmax(self.puzzle == maze.GOAL))
        self.best = int(_distances(self.puzzle != maze.WALL, self.start)[self.goal])

    def root(self) -> np.ndarray:
        return np.where(self.open, -1, self.puzzle)

    def inputs(self, fixed: np.ndarray) -> np.ndarray:
        return np.where(self.open & (fixed == maze.OPEN), maze.WALL, self.puzzle)

    def guess(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An open cell is on the path when p(PATH) > p(OPEN); confidence |q - 1/2|, q the
        path probability among the two."""
        q = probs[:, maze.PATH] / (probs[:, maze.PATH] + probs[:, maze.OPEN] + 1e-12)
        grid = np.where(self.open, np.where(q > 0.5, maze.PATH, maze.OPEN), self.puzzle)
        return grid, np.abs(q - 0.5)

    def options(self, fixed: np.ndarray, cell: int, probs: np.ndarray) -> list[int]:
        on_first = self.guess(probs)[0][cell] == maze.PATH
        return [maze.PATH, maze.OPEN] if on_first else [maze.OPEN, maze.PATH]

    def feasible(self, fixed: np.ndarray) -> bool:
        """Some shortest S -> G path of the question avoids the off-path cells and could pass
        all on-path cells: each lies on a shortest path, no two at the same distance from S."""
        if self.best < 0:
            return False
        passable = self.inputs(fixed) != maze.WALL
        from_s, from_g = _distances(passable, self.start), _distances(passable, self.goal)
        if from_s[self.goal] != self.best:
            return False
        on = np.flatnonzero(fixed == maze.PATH)
        if ((from_s[on] < 0) | (from_s[on] + from_g[on] != self.best)).any():
            return False
        return len(set(from_s[on].tolist())) == len(on)


DOMAINS: dict[str, type[_Domain]] = {"sudoku": _SudokuDomain, "maze": _MazeDomain}


# --- the search ---


def _device(model: Proposer) -> torch.device:
    first = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def _propose(
    model: Proposer, inputs: np.ndarray, num_steps: int | None, carry: Any
) -> tuple[np.ndarray, Any]:
    """inputs (B, N) -> (p (B, N, C) float64 of the last step, the new carry)."""
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.int64)).to(_device(model))
    out = model(x, num_steps=num_steps, carry=carry)
    return torch.softmax(out.logits[-1].double(), -1).cpu().numpy(), out.carry


def _take(carry: Any, i: int) -> Any:
    """Example i of a batched carry (None, a tensor, or a dataclass of batch-first tensors)."""
    if carry is None:
        return None
    if isinstance(carry, torch.Tensor):
        return carry[i : i + 1].clone()  # a copy: the batch's state is freed when it is done
    if dataclasses.is_dataclass(carry) and not isinstance(carry, type):
        fields = {f.name: _take(getattr(carry, f.name), i) for f in dataclasses.fields(carry)}
        return dataclasses.replace(carry, **fields)
    raise TypeError(f"cannot take one example of a carry of type {type(carry).__name__}")


def _search(
    model: Proposer,
    domain: _Domain,
    probs: np.ndarray,
    carry: Any,
    budget: int,
    steps_per_node: int | None,
) -> tuple[np.ndarray | None, int]:
    """Depth-first search from the root, whose proposal `probs` (N, C) is already computed;
    (a verified grid or None, nodes used)."""
    nodes, fixed = 1, domain.root()
    stack: list[tuple[np.ndarray, Any]] = []  # (child's fixed cells, its parent's carry)
    while True:
        grid = domain.propose(fixed, probs)
        if domain.check(grid):
            return grid, nodes
        stack.extend((kid, carry) for kid in reversed(domain.children(fixed, probs)))
        if not stack or nodes >= budget:
            return None, nodes
        fixed, parent_carry = stack.pop()
        batch_probs, carry = _propose(
            model, domain.inputs(fixed)[None], steps_per_node, parent_carry
        )
        probs, nodes = batch_probs[0], nodes + 1


def solve_verified(
    model: Proposer,
    task: str,
    inputs: np.ndarray,
    *,
    nodes: int = 64,
    steps_per_node: int | None = None,
    batch_size: int = 64,
) -> list[Result]:
    """inputs (P, N) in the model's form (task.py) -> one `Result` per puzzle, in order: a
    solution checked against its puzzle, or an abstention after at most `nodes` model calls.
    Roots are proposed `batch_size` at a time; `steps_per_node` None = the model's T."""
    get_task(task)
    if nodes < 1:
        raise ValueError(f"the node budget must be at least 1, got {nodes}")
    if isinstance(model, nn.Module):
        model.eval()
    original = np.array(inputs, dtype=np.int64, copy=True)  # (P, N): the final gate's puzzles
    results: list[Result] = []
    for start in range(0, len(original), batch_size):
        batch = original[start : start + batch_size]
        probs, carry = _propose(model, batch, None, None)
        for i, puzzle in enumerate(batch):
            domain = DOMAINS[task](puzzle)
            grid, used = _search(model, domain, probs[i], _take(carry, i), nodes, steps_per_node)
            results.append(_gate(task, grid, puzzle, used))
    return results


def _gate(task: str, grid: np.ndarray | None, puzzle: np.ndarray, used: int) -> Result:
    """The final check, against the caller's puzzle: a failing grid becomes an abstention."""
    if grid is None or not is_valid(task, grid, puzzle):
        return Result(None, used, "abstained")
    return Result(grid.astype(np.int8), used, "solved")


# --- the exact solvers' node counts ---


def exact_search(task: str, puzzle: np.ndarray) -> tuple[np.ndarray | None, int]:
    """(the exact solver's solution in grid form or None, its search nodes) for one puzzle in
    grid form. Sudoku: calls of `sudoku.solve`'s recursion up to the first solution (0 when
    givens clash); maze: cells the BFS takes off its queue, the goal included."""
    get_task(task)
    stats: dict[str, int] = {}
    if task == "sudoku":
        found = sudoku.solve(puzzle.astype(np.int8), limit=1, stats=stats)
        return (found[0] if found else None), stats["nodes"]
    return maze.solve(puzzle.astype(np.int8), stats=stats), stats["nodes"]


__all__ = ["Proposal", "Proposer", "Result", "exact_search", "is_valid", "solve_verified"]
