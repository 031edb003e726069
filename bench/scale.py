"""Proving throughput on Ray workers: the same held-out theorems at 1 and 2 local workers, and
on a 2-node Ray cluster simulated on this machine (`ray.cluster_utils.Cluster`: a head node and
a second node, one CPU each, so the two workers run on different Ray nodes).

Each row runs the first `--limit` theorems of the trace's `novel_files/test` (hash order) with
`--policy` (default the portfolio), `--timeout` seconds each, through `prover.pool` (the path
`springtail eval --workers N` takes). Reported: proved / attempted, wall time (from the first
theorem handed out to the last result; the pool's start is apart), speed-up over 1 worker,
tactic calls per second of wall time, and the workers' idle share (1 - the attempts' summed
time / (workers x wall)).

Run: .venv/bin/python bench/scale.py --trace datasets/coq_trace --limit 100 --timeout 30
     [--rows w1,w2,cluster2] [--policy model --model runs/m2] [--out bench/results/scale]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any

from _common import machine, print_table, write_json

from prover.data import split_theorems
from prover.envs import get_env
from prover.policies import get_policy
from prover.pool import PoolConfig, start_pool
from prover.pool import run_pool as pool_run
from prover.search import SearchConfig

ROWS = ("w1", "w2", "cluster2")


def run_row(row: str, args: argparse.Namespace) -> dict[str, Any]:
    import ray

    theorems = split_theorems(Path(args.trace), "novel_files/test")[: args.limit]
    options = {"model": args.model} if args.model else {}
    policy = get_policy(args.policy, backend="coq", tactic_timeout=args.tactic_timeout, **options)
    make_env = functools.partial(get_env, "coq", tactic_timeout=args.tactic_timeout)
    workers = 1 if row == "w1" else 2
    cluster = None
    if row == "cluster2":
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        with start_pool(make_env, policy, PoolConfig(workers=workers)) as pool:
            start_s = time.perf_counter() - t0
            nodes = sorted({s.node for s in pool.slots})
            t1 = time.perf_counter()
            results = [
                r
                for _, r in pool_run(
                    pool, theorems, SearchConfig(time_limit_s=args.timeout), None,
                    allow_original_axioms=True,
                )
            ]  # fmt: skip
            wall = time.perf_counter() - t1
    finally:
        if cluster is not None:
            ray.shutdown()
            cluster.shutdown()
    attempted = [r for r in results if r.attempted]
    busy = sum(r.time_s for r in results)
    calls = sum(r.search.get("tactic_calls", 0) for r in results)
    return {
        "row": row,
        "workers": workers,
        "ray_nodes": len(nodes),
        "proved": sum(r.proved for r in attempted),
        "attempted": len(attempted),
        "errors": sum(str(r.status) == "error" for r in results),
        "wall_s": round(wall, 1),
        "pool_start_s": round(start_s, 1),
        "calls_per_s": round(calls / wall, 1),
        "idle_share": round(1 - busy / (workers * wall), 3),
        "proved_theorems": sorted(r.theorem for r in attempted if r.proved),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="datasets/coq_trace")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--tactic-timeout", type=float, default=5.0)
    ap.add_argument("--policy", default="portfolio")
    ap.add_argument("--model", help="a trained model (--policy model)")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--out", default="bench/results/scale")
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    if set(rows) - set(ROWS):
        raise SystemExit(f"unknown rows {sorted(set(rows) - set(ROWS))}: choose from {ROWS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = []
    for row in rows:
        print(f"== {row}", flush=True)
        result = run_row(row, args)
        (out / f"{row}.json").write_text(json.dumps(result, indent=2) + "\n")
        table.append(result)
    base = next((r for r in table if r["row"] == "w1"), None)
    for r in table:
        r["speedup"] = round(base["wall_s"] / r["wall_s"], 2) if base else None
    m = machine()
    print(
        f"\nmachine: {m['cpu']} x{m['cpu_count']}; {args.limit} theorems of {args.trace} "
        f"novel_files/test, {args.policy}, {args.timeout:g} s each"
    )
    print_table(
        table,
        [
            "row",
            "workers",
            "ray_nodes",
            "proved",
            "attempted",
            "wall_s",
            "speedup",
            "calls_per_s",
            "idle_share",
            "pool_start_s",
        ],
    )
    write_json(str(out / "summary.json"), {"args": vars(args), "results": table})


if __name__ == "__main__":
    main()
