"""Verified solving of Sudoku / maze puzzles with a trained CSP model (`prover/csp/solve.py`):
the model proposes, the task's checker verifies, a depth-first search branches; each puzzle
ends solved (a checked solution) or abstained, never with an unverified answer.

The JSON record: task, n, solved, abstained, wrong (returned solutions that differ from the
dataset's answer and fail a check written here apart from the solver's: 0 by construction),
mean_nodes (model calls per puzzle), exact_mean_nodes (the exact solver's search nodes on the
same puzzles), puzzles_per_s, node_budget, checkpoint, source, and per puzzle in input order
{"solution": grid string or null, "nodes": K}.

Run: python -m eval.csp_solve --task sudoku --checkpoint DIR --data FILE [--nodes N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prover.csp import maze, sudoku
from prover.csp.model import CSPModel
from prover.csp.solve import Result, exact_search, solve_verified
from prover.csp.task import CSPData, resolve_data
from prover.overrides import Parser

HEADER = (
    "| checkpoint | n | solved | abstained | wrong | mean nodes | exact mean nodes | puzzles/s |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _sudoku_ok(grid: np.ndarray, puzzle: np.ndarray) -> bool:
    """Written apart from `sudoku.py` on purpose: every row, column and box holds 1..9 once,
    and the givens are kept."""
    g = grid.astype(np.int64).reshape(9, 9)
    boxes = g.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)
    digits = np.arange(1, 10)
    groups_ok = all((np.sort(u, axis=1) == digits).all() for u in (g, g.T, boxes))
    return groups_ok and bool(((puzzle == 0) | (grid == puzzle)).all())


def _maze_ok(grid: np.ndarray, puzzle: np.ndarray, answer: np.ndarray) -> bool:
    """Written apart from `maze.py` on purpose: only open cells become path cells, and the path
    cells join S to G in a walk as short as the dataset's answer (a shortest path)."""
    if ((grid != puzzle) & ((puzzle != maze.OPEN) | (grid != maze.PATH))).any():
        return False
    n = int(round(len(grid) ** 0.5))
    walk = {int(i) for i in np.flatnonzero(np.isin(grid, (maze.START, maze.GOAL, maze.PATH)))}
    start, goal = int(np.argmax(grid == maze.START)), int(np.argmax(grid == maze.GOAL))
    dist, frontier = {start: 0}, [start]
    while frontier:
        nxt = []
        for u in frontier:
            r, c = divmod(u, n)
            for v, ok in ((u - n, r > 0), (u + n, r < n - 1), (u - 1, c > 0), (u + 1, c < n - 1)):
                if ok and v in walk and v not in dist:
                    dist[v] = dist[u] + 1
                    nxt.append(v)
        frontier = nxt
    length = int((answer == maze.PATH).sum()) + 1
    return dist.get(goal) == length and len(walk) == length + 1


def count_wrong(task: str, data: CSPData, results: list[Result]) -> int:
    """Returned solutions that are not right by a check written apart from the solver's:
    Sudoku rules and givens; for mazes a path through open cells as short as the dataset's
    (checked) answer, with no stray path cells."""
    answers = data.targets + 1 if task == "sudoku" else data.targets  # grid form
    wrong = 0
    for r, puzzle, answer in zip(results, data.inputs, answers, strict=True):
        if r.solution is None or np.array_equal(r.solution, answer):
            continue
        if task == "sudoku":
            wrong += not _sudoku_ok(r.solution, puzzle)
        else:
            wrong += not _maze_ok(r.solution, puzzle, answer)
    return wrong


def _grid_text(task: str, grid: np.ndarray | None) -> str | None:
    if grid is None:
        return None
    return sudoku.format_grid(grid) if task == "sudoku" else maze.format_grid(grid)


def record(
    task: str, data: CSPData, results: list[Result], elapsed_s: float, budget: int
) -> dict[str, Any]:
    """The JSON record of one run (see the module docstring)."""
    exact = [exact_search(task, x)[1] for x in data.inputs]
    return {
        "task": task,
        "n": len(results),
        "solved": sum(r.status == "solved" for r in results),
        "abstained": sum(r.status == "abstained" for r in results),
        "wrong": count_wrong(task, data, results),
        "mean_nodes": float(np.mean([r.nodes for r in results])),
        "exact_mean_nodes": float(np.mean(exact)),
        "puzzles_per_s": len(results) / max(elapsed_s, 1e-9),
        "node_budget": budget,
        "source": data.source,
        "results": [{"solution": _grid_text(task, r.solution), "nodes": r.nodes} for r in results],
    }


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="springtail csp solve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    ap.add_argument(
        "--checkpoint", required=True, help="run directory written by `springtail csp train`"
    )
    ap.add_argument(
        "--data", required=True, help="CSV/JSONL in the shared formats, or generated:N:SEED[:...]"
    )
    ap.add_argument("--nodes", type=int, default=64, help="model calls per puzzle (default 64)")
    ap.add_argument("--limit", type=int, help="first K puzzles only")
    ap.add_argument("--json", help="write the result record here")
    return ap


def load_checked(checkpoint: str, task: str) -> CSPModel:
    """The run's model (EMA weights), on the GPU when there is one; ValueError when the
    directory is missing or the run was trained on the other task."""
    from prover.csp.train import load_model

    if not Path(checkpoint).is_dir():
        raise ValueError(f"checkpoint directory {checkpoint} does not exist")
    try:
        model, cfg, _ = load_model(checkpoint)
    except (KeyError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{checkpoint} holds no readable CSP checkpoint ({e})") from None
    if cfg.model.task != task:
        raise ValueError(f"{checkpoint} was trained on {cfg.model.task}, not {task}")
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Check the inputs (cheap first), solve, and build the record."""
    if args.nodes < 1:
        raise ValueError(f"--nodes must be at least 1, got {args.nodes}")
    if args.json and Path(args.json).is_dir():
        raise ValueError(f"--json {args.json} is a directory; name a file")
    model = load_checked(args.checkpoint, args.task)
    data = resolve_data(args.task, args.data, args.limit)
    cells = data.inputs.shape[1]
    if model.pos is not None and cells != model.spec.num_cells:
        raise ValueError(
            f"{args.checkpoint} learned positions for {model.spec.num_cells} cells; the data has "
            f"{cells} per puzzle (train with model.positions=none to solve other sizes)"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)  # fails now, not after solving
    start = time.perf_counter()
    results = solve_verified(model, args.task, data.inputs, nodes=args.nodes)
    result = record(args.task, data, results, time.perf_counter() - start, args.nodes)
    return {**result, "checkpoint": args.checkpoint}


def markdown_row(r: dict[str, Any]) -> str:
    return (
        f"| {r['checkpoint']} | {r['n']} | {r['solved']} | {r['abstained']} | {r['wrong']} | "
        f"{r['mean_nodes']:.1f} | {r['exact_mean_nodes']:.1f} | {r['puzzles_per_s']:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (ValueError, OSError) as e:  # CSPDataError and unwritable paths included
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(HEADER)
    print(markdown_row(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
