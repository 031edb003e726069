"""The retrieval index (`prover/policies/index.py`) on a whole trace: build time, queries per
second (one state per call, as search asks, and in batches), online insertion, memory, and how
often the human tactic of a held-out step is among the hits.

Targets (issue #13): build <= 60 s for the whole standard-library trace, >= 500 queries/s.

Run: .venv/bin/python bench/retrieval.py [--trace datasets/coq_trace] [--queries 2000]
     [--json bench/results/retrieval.json]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from _common import machine, print_table, write_json

from prover.data import load_steps
from prover.policies.index import StateIndex
from prover.policies.knn import TRAIN_SPLIT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="datasets/coq_trace")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--json", default="bench/results/retrieval.json")
    args = ap.parse_args()
    trace = Path(args.trace)

    t0 = time.perf_counter()
    train = load_steps(trace, TRAIN_SPLIT)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = StateIndex.build((s.state_before, s.tactic) for s in train)
    build_s = time.perf_counter() - t0
    held_out = load_steps(trace, "novel_files/test")[: args.queries]
    states = [s.state_before for s in held_out]

    index.query(states[0])  # warm-up
    per_call = []
    t0 = time.perf_counter()
    for state in states:
        t1 = time.perf_counter()
        index.query(state, k=16)
        per_call.append(time.perf_counter() - t1)
    single_qps = len(states) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    hits = []
    for i in range(0, len(states), 64):
        hits += index.query_batch(states[i : i + 64], k=16)
    batch_qps = len(states) / (time.perf_counter() - t0)

    online = load_steps(trace, "novel_files/val")[:500]
    t0 = time.perf_counter()
    for k in range(0, len(online), 5):  # a proof of ~5 steps at a time, as a run adds them
        index.add((s.state_before, s.tactic) for s in online[k : k + 5])
    add_s = (time.perf_counter() - t0) / max(1, len(online) // 5)
    t0 = time.perf_counter()
    for state in states[:500]:
        index.query(state, k=16)
    single_qps_after = min(500, len(states)) / (time.perf_counter() - t0)

    top1 = sum(bool(h) and h[0].tactic == s.tactic for h, s in zip(hits, held_out, strict=True))
    top16 = sum(any(x.tactic == s.tactic for x in h) for h, s in zip(hits, held_out, strict=True))
    row = {
        "indexed_steps": len(index),
        "load_s": round(load_s, 2),
        "build_s": round(build_s, 2),
        "queries": len(states),
        "qps_single": round(single_qps, 1),
        "p50_ms": round(1000 * statistics.median(per_call), 3),
        "p99_ms": round(1000 * sorted(per_call)[int(0.99 * (len(per_call) - 1))], 3),
        "qps_batch64": round(batch_qps, 1),
        "add_proof_ms": round(1000 * add_s, 2),
        "qps_single_after_500_online": round(single_qps_after, 1),
        "top1_exact": round(top1 / len(states), 4),
        "top16_exact": round(top16 / len(states), 4),
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(f"machine: {machine()['cpu']} x{machine()['cpu_count']}")
    print_table([row], list(row))
    write_json(args.json, {"trace": str(trace), "results": row})


if __name__ == "__main__":
    main()
