"""Verified solving (`springtail csp solve`) on the same puzzles with different proposers: trained
checkpoints, random confidences (the search with no model knowledge), and the exact solver's node
counts. Answers whether the model's guidance cuts branching, and checks that no proposer ever
gets a wrong answer through (the solver answers or abstains).

Run: .venv/bin/python bench/csp_solve.py --task sudoku --data generated:200:1:30-40 --limit 50 \\
         --nodes 128 --checkpoint runs/csp_ablate/sudoku-link-seed0 \\
         runs/csp_ablate/sudoku-looped-seed0 [--json OUT]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from _common import machine, print_table, write_json

from eval.csp_solve import count_wrong, load_checked
from prover.csp.solve import Result, exact_search, solve_verified
from prover.csp.task import fingerprint, get_task, resolve_data


@dataclass
class _Out:
    logits: list[torch.Tensor]
    carry: Any


class RandomConfidences:
    """A proposer with no knowledge: fresh random logits at every call (seeded)."""

    def __init__(self, num_classes: int, seed: int) -> None:
        self.num_classes = num_classes
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(
        self, inputs: torch.Tensor, num_steps: int | None = None, carry: Any = None
    ) -> _Out:
        B, N = inputs.shape
        return _Out([torch.randn(B, N, self.num_classes, generator=self.gen)], None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--nodes", type=int, default=128)
    ap.add_argument("--checkpoint", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="default: bench/results/csp_solve_<task>.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = resolve_data(args.task, args.data, args.limit)
    puzzles = data.inputs
    proposers: list[tuple[str, Any]] = [(c, load_checked(c, args.task)) for c in args.checkpoint]
    proposers.append(("random confidences", RandomConfidences(get_task(args.task).num_classes, 0)))
    rows = []
    for name, model in proposers:
        start = time.perf_counter()
        results = solve_verified(model, args.task, puzzles, nodes=args.nodes)
        elapsed = time.perf_counter() - start
        solved = [r for r in results if r.status == "solved"]
        rows.append(
            {
                "proposer": name,
                "n": len(results),
                "solved": len(solved),
                "abstained": len(results) - len(solved),
                "wrong": count_wrong(args.task, data, results),
                "mean_nodes": float(np.mean([r.nodes for r in results])),
                "mean_nodes_solved": float(np.mean([r.nodes for r in solved])) if solved else None,
                "root_solved": sum(r.nodes == 1 for r in solved),
                "puzzles_per_s": len(results) / elapsed,
            }
        )
        print(rows[-1], flush=True)
    start = time.perf_counter()
    exact = [exact_search(args.task, p) for p in puzzles]
    exact_s = time.perf_counter() - start
    found = [n for sol, n in exact if sol is not None]
    rows.append(
        {
            "proposer": "exact solver",
            "n": len(puzzles),
            "solved": len(found),
            "abstained": len(puzzles) - len(found),
            "wrong": count_wrong(
                args.task, data, [Result(sol, n, "solved") if sol is not None
                                  else Result(None, n, "abstained") for sol, n in exact]
            ),
            "mean_nodes": float(np.mean([n for _, n in exact])),
            "mean_nodes_solved": float(np.mean(found)) if found else None,
            "root_solved": sum(n == 1 for n in found),
            "puzzles_per_s": len(puzzles) / exact_s,
        }
    )  # fmt: skip
    cols = ["proposer", "n", "solved", "abstained", "wrong", "mean_nodes", "mean_nodes_solved"]
    print(f"\n{args.task} {args.data}: node budget {args.nodes} on {machine()['cpu']}")
    print_table(rows, cols + ["root_solved", "puzzles_per_s"])
    meta = {"task": args.task, "data": args.data, "sha256_16": fingerprint(data)}
    write_json(
        args.json or f"bench/results/csp_solve_{args.task}.json",
        {**meta, "node_budget": args.nodes, "machine": machine(), "rows": rows},
    )


if __name__ == "__main__":
    main()
