"""`make demo`: trace a slice of the Coq standard library, then prove held-out lemmas with
the portfolio baseline through the same search and verification path the model will use.

Run: python -m eval.demo [--out datasets/demo_trace] [--limit 12] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.coq_split import EvalConfig, evaluate, markdown_table
from prover.policy import PortfolioPolicy
from prover.trace import TraceConfig, resolve_files, trace

# A slice whose held-out files (novel_files/test, by hash of the path) mix easy Bool lemmas
# with harder QArith and Logic ones.
DEMO_FILES = [
    "Bool/*.v",
    "Arith/*.v",
    "Lists/List.v",
    "Logic/Decidable.v",
    "Logic/ConstructiveEpsilon.v",
    "QArith/Qcanon.v",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="datasets/demo_trace")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=10.0, help="search seconds per lemma")
    args = ap.parse_args()
    out = Path(args.out)

    print(f"== 1. tracing {', '.join(DEMO_FILES)} into {out}")
    manifest = trace(resolve_files(DEMO_FILES), out, TraceConfig(num_workers=2), log=lambda _: None)
    print(
        f"traced {manifest['num_theorems']} theorems, {manifest['num_steps']} tactic steps from "
        f"{manifest['num_files']} files in {manifest['wall_time_s']:.0f}s; splits: "
        f"{json.dumps(manifest['splits'])}"
    )

    split = "novel_files/test" if manifest["splits"]["novel_files"]["test"] else "random/test"
    print(f"\n== 2. proving {args.limit} held-out lemmas ({split}) with the portfolio baseline")
    config = EvalConfig(split, args.limit, args.timeout, tactic_timeout_s=2.0)
    summary = evaluate(out, PortfolioPolicy(), config)
    print("\n| lemma | result | time (s) | proof |\n|---|---|---|---|")
    for r in summary["results"]:
        proof = " ".join(r["proof"]) if r["proved"] else ""
        print(f"| {r['theorem']} | {r['status']} | {r['time_s']:.1f} | {proof} |")
    print()
    print(markdown_table([summary]))
    (out / "demo_eval.json").write_text(json.dumps(summary, indent=2))
    print(f"\nresults: {out / 'demo_eval.json'}")


if __name__ == "__main__":
    main()
