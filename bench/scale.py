"""Proving throughput on Ray workers: the same held-out theorems at 1 and 2 local workers, and
on a 2-node Ray cluster simulated on this machine (`ray.cluster_utils.Cluster`: a head node and
a second node, one CPU each, so the two workers run on different Ray nodes).

Each row runs the first `--limit` theorems of the trace's `novel_files/test` (hash order) with
`--policy` (default the portfolio), `--timeout` seconds each, through `prover.pool` (the path
`springtail eval --workers N` takes); the row `inproc` runs them in this process without Ray
(`run_episodes(pool=None)`), what Ray costs a single worker. Reported: proved / attempted,
wall time (from the first theorem handed out to the last result; the pool's start is apart),
speed-up over 1 worker, tactic calls per second of wall time, and the workers' idle share
(1 - the attempts' summed time / (workers x wall)).

Run: .venv/bin/python bench/scale.py --trace datasets/coq_trace --limit 100 --timeout 30
     [--rows inproc,w1,w2,cluster2] [--policy model --model runs/m2] [--out bench/results/scale]
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
from prover.pool import PoolConfig, run_episodes, start_pool
from prover.pool import run_pool as pool_run
from prover.search import SearchConfig

ROWS = ("inproc", "w1", "w2", "cluster2")  # inproc: no Ray, the one-process driver


def run_row(row: str, args: argparse.Namespace) -> dict[str, Any]:
    import ray

    theorems = split_theorems(Path(args.trace), "novel_files/test")[: args.limit]
    options = {"model": args.model} if args.model else {}
    policy = get_policy(args.policy, backend="coq", tactic_timeout=args.tactic_timeout, **options)
    make_env = functools.partial(get_env, "coq", tactic_timeout=args.tactic_timeout)
    workers = 1 if row in ("inproc", "w1") else 2
    if row == "inproc":  # the same theorems through the one-process driver: Ray's overhead
        t1 = time.perf_counter()
        results, _ = run_episodes(
            make_env, policy, theorems, SearchConfig(time_limit_s=args.timeout), None,
            pool=None, desc="inproc", allow_original_axioms=True,
        )  # fmt: skip
        return _row(row, workers, 1, results, time.perf_counter() - t1, 0.0)
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
    return _row(row, workers, len(nodes), results, wall, start_s)


def _row(
    row: str, workers: int, nodes: int, results: list, wall: float, start_s: float
) -> dict[str, Any]:
    attempted = [r for r in results if r.attempted]
    busy = sum(r.time_s for r in results)
    calls = sum(r.search.get("tactic_calls", 0) for r in results)
    return {
        "row": row,
        "workers": workers,
        "ray_nodes": nodes,
        "proved": sum(r.proved for r in attempted),
        "attempted": len(attempted),
        "errors": sum(str(r.status) == "error" for r in results),
        "wall_s": round(wall, 1),
        "pool_start_s": round(start_s, 1),
        "calls_per_s": round(calls / wall, 1),
        "idle_share": round(1 - busy / (workers * wall), 3),
        "proved_theorems": sorted(r.theorem for r in attempted if r.proved),
    }


def replay_writer(episodes: int = 400, outcomes: int = 100) -> dict[str, float]:
    """How fast the driver, the replay store's one writer, records finished theorems: each
    with `outcomes` tactic outcomes (states of ~600 characters) and a proof, in one
    transaction (`ReplayRecorder.finish` with a run name), on this machine's disk."""
    import tempfile

    from prover.data import Theorem
    from prover.envs.base import Failed, ProofState, Status
    from prover.episodes import EpisodeResult
    from prover.replay import ReplayRecorder, ReplayStore

    state = ProofState("n : nat\nH : n <= 3\n============================\n" + "x + " * 140, 0, 1)
    with tempfile.TemporaryDirectory() as tmp, ReplayStore(Path(tmp) / "r.sqlite") as store:
        recorder = ReplayRecorder(store, "bench", run="bench")
        t0 = time.perf_counter()
        for k in range(episodes):
            theorem = Theorem(Path("F.v"), f"t{k}")
            for j in range(outcomes):
                recorder.outcome(theorem, state, f"tac{j}.", Failed("no"), 0.01, "closer")
            result = EpisodeResult(
                theorem=theorem.name,
                status=Status.PROVED,
                time_s=1.0,
                proof=["auto."],
                steps=[(state.text, "auto.")],
            )
            recorder.finish(theorem, result)
        wall = time.perf_counter() - t0
    return {
        "theorems_per_s": round(episodes / wall, 1),
        "outcome_rows_per_s": round(episodes * outcomes / wall),
        "outcomes_per_theorem": outcomes,
    }


def model_batching(args: argparse.Namespace, sizes: tuple[int, ...] = (1, 2, 8)) -> list[dict]:
    """Seconds per state of the model policy's proposals at batch sizes `sizes`, one thread:
    what one batching actor serving every worker could gain over a model in each worker."""
    import torch

    from prover.data import load_steps
    from prover.envs.base import ProofState
    from prover.policies.model import ModelPolicy

    torch.set_num_threads(1)
    policy = ModelPolicy(Path(args.model))
    steps = load_steps(Path(args.trace), "novel_files/val")[:32]
    states = [ProofState(s.state_before, k, 1) for k, s in enumerate(steps)]
    policy.propose_batch(states[:2])  # warm-up
    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        for k in range(0, len(states), size):
            policy.propose_batch(states[k : k + size])
        rows.append({"batch": size, "s_per_state": round((time.perf_counter() - t0) / 32, 4)})
    return rows


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
    ap.add_argument(
        "--table-only", action="store_true", help="run no row: tabulate the rows' JSON in --out"
    )
    args = ap.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    if set(rows) - set(ROWS):
        raise SystemExit(f"unknown rows {sorted(set(rows) - set(ROWS))}: choose from {ROWS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = []
    for row in rows:
        path = out / f"{row}.json"
        if args.table_only:
            if path.is_file():
                table.append(json.loads(path.read_text()))
            continue
        print(f"== {row}", flush=True)
        result = run_row(row, args)
        path.write_text(json.dumps(result, indent=2) + "\n")
        table.append(result)
    base = next((r for r in table if r["row"] == "w1"), None)  # speed-up over 1 Ray worker
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
    writer = replay_writer()
    print(
        f"\nreplay writer (the driver): {writer['theorems_per_s']} theorems/s of "
        f"{writer['outcomes_per_theorem']} outcomes each ({writer['outcome_rows_per_s']} rows/s)"
    )
    batching = []
    if args.policy == "model" and args.model:
        batching = model_batching(args)
        print("\nmodel proposals, one thread (a serving actor's gain from batching workers):")
        print_table(batching, ["batch", "s_per_state"])
    write_json(
        str(out / "summary.json"),
        {"args": vars(args), "results": table, "writer": writer, "batching": batching},
    )


if __name__ == "__main__":
    main()
