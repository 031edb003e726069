"""Soak test of the Ray worker pool: many theorem attempts on one pool, watching for leaks.

`--attempts` attempts (the trace's `novel_files/test` theorems, cycled) on `--workers` workers
of one pool (`prover.pool`, the path `springtail eval` takes), `--timeout` seconds each. Every
`--every` results it samples each worker's resident memory and that of the processes it started
(its Coq process, ATPs), their count and zombies, and the number of processes the run started
(Ray's included: every descendant of the driver). Reported: those figures after warm-up
(`--warmup` attempts) and at the end, and the growth in between (the target: under 10 %).

Run: .venv/bin/python bench/soak.py --trace datasets/coq_trace --attempts 1000 --workers 2
     --timeout 5 [--out bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
from pathlib import Path
from typing import Any

import psutil
from _common import print_table, write_json

from prover.data import split_theorems
from prover.envs import get_env
from prover.policies import get_policy
from prover.pool import PoolConfig, start_pool
from prover.pool import run_pool as pool_run
from prover.search import SearchConfig


def machine_processes() -> dict[str, int]:
    """The processes this run started (Ray's, its workers', their Coq and ATP processes: all
    descendants of this process), and zombies among them."""
    alive = zombies = 0
    for p in psutil.Process().children(recursive=True):
        try:
            zombie = p.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            continue
        zombies += zombie
        alive += not zombie
    return {"processes": alive, "zombies": zombies}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="datasets/coq_trace")
    ap.add_argument("--attempts", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--tactic-timeout", type=float, default=2.0)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--out", default="bench/results/soak.json")
    ap.add_argument("--table-only", action="store_true", help="run nothing: report --out")
    args = ap.parse_args()
    split = split_theorems(Path(args.trace), "novel_files/test")
    if args.table_only:
        saved = json.loads(Path(args.out).read_text())
        report(args, saved["counts"], saved["samples"], len(split))
        return
    theorems = list(itertools.islice(itertools.cycle(split), args.attempts))
    policy = get_policy("portfolio", backend="coq", tactic_timeout=args.tactic_timeout)
    make_env = functools.partial(get_env, "coq", tactic_timeout=args.tactic_timeout)
    samples: list[dict[str, Any]] = []
    counts = {"proved": 0, "attempted": 0, "error": 0, "retried": 0}
    t0 = time.perf_counter()
    with start_pool(make_env, policy, PoolConfig(workers=args.workers)) as pool:
        runs = pool_run(pool, theorems, SearchConfig(time_limit_s=args.timeout), None)
        for done, (_, r) in enumerate(runs, start=1):
            counts["attempted"] += r.attempted
            counts["proved"] += r.proved
            counts["error"] += str(r.status) == "error"
            counts["retried"] += r.retried
            if done % args.every == 0 or done == len(theorems):
                workers = pool.memory()
                sample = {
                    "done": done,
                    "elapsed_s": round(time.perf_counter() - t0, 1),
                    "workers": workers,
                    **machine_processes(),
                }
                samples.append(sample)
                rss = ", ".join(
                    f"{w['rss_mib']:.0f}+{w['children_rss_mib']:.0f} MiB ({w['children']})"
                    for w in workers
                )
                print(f"{done}: {rss}; {sample['processes']} processes", flush=True)
    report(args, counts, samples, len(split))
    write_json(args.out, {"args": vars(args), "counts": counts, "samples": samples})


def report(
    args: argparse.Namespace, counts: dict[str, int], samples: list[dict[str, Any]], cycle: int
) -> None:
    """Per worker: its own resident memory after warm-up and at the end (the growth the
    target bounds), and its Coq process's largest resident memory in each pass over the
    theorems (a Coq process lives per file, and files differ in size, so passes are what
    compare); the processes the run started, and zombies."""
    warm = next((s for s in samples if s["done"] >= args.warmup), samples[0])
    end = samples[-1]
    rows = []
    for k in range(len(end["workers"])):
        a, b = warm["workers"][k]["rss_mib"], end["workers"][k]["rss_mib"]
        passes: dict[int, float] = {}
        for s in samples:
            c = (s["done"] - 1) // cycle
            passes[c] = max(passes.get(c, 0.0), s["workers"][k]["children_rss_mib"])
        rows.append(
            {
                "worker": k,
                "rss_warm_mib": round(a),
                "rss_end_mib": round(b),
                "growth": f"{b / a - 1:+.1%}",
                "coq_max_mib_per_pass": " / ".join(f"{v:.0f}" for v in passes.values()),
                "zombies_max": max(s["workers"][k]["zombies"] for s in samples),
            }
        )
    print(
        f"\n{counts['attempted']} attempts, {len(end['workers'])} workers, {args.timeout:g} s "
        f"each: {counts['proved']} proved, {counts['error']} errors, {counts['retried']} "
        f"retried, {end['elapsed_s']:.0f} s; processes the run started: "
        f"{min(s['processes'] for s in samples)}-{max(s['processes'] for s in samples)} "
        f"({max(s['zombies'] for s in samples)} zombies at most)"
    )
    print_table(
        rows,
        ["worker", "rss_warm_mib", "rss_end_mib", "growth", "coq_max_mib_per_pass", "zombies_max"],
    )


if __name__ == "__main__":
    main()
