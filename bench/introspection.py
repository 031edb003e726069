"""What a mined tactic library buys, at equal compute: the portfolio with and without it on the
same held-out theorems and budget, and how much it shortens held-out human proofs.

    python bench/introspection.py --trace datasets/coq_trace --library runs/lib \
        [--split novel_files/test] [--limit 50] [--timeout 10] [--tactic-timeout 2] \
        [--model DIR --library-model DIR]

Rows, run one after the other in this process on the same theorems: `portfolio` and
`portfolio + library` (the same candidates, then the library's programs); with `--model` and
`--library-model`, also `model` (the model alone) and `model + library` (a model trained on
targets rewritten to call the library, `springtail train --library`, offering its own
candidates and then the library's programs). For an equal-compute model comparison, train
both the same way from the same start (e.g. `--init-from M` for the same minutes, one with
`--library`). Columns: proved /
attempted, pass@1, mean proof length (tactic sentences), share of proofs calling >= 1 library
program. Then the compression of the split's human proofs: tactic tokens before and after
rewriting every sentence with the library's programs (a syntactic count: the rewritten
held-out proofs are not re-checked here). Prints tables and writes
bench/results/introspection.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _common import print_table, write_json

from eval.coq_split import evaluate
from eval.summary import EvalConfig
from prover.envs.coq_library import program_calls
from prover.envs.coq_ltac import print_tactic, tokenize
from prover.introspect.corpus import read_split
from prover.introspect.mine import rewrite_with
from prover.introspect.rewrite import load_programs
from prover.policies.base import TacticPolicy
from prover.policies.library import LibraryPolicy
from prover.policies.model import ModelPolicy
from prover.policies.portfolio import PortfolioPolicy


def compression(trace: Path, split: str, library: Path) -> dict[str, Any]:
    """Tactic tokens of the split's human proofs before and after rewriting with the library."""
    programs = load_programs(library)
    corpus = read_split(trace, split)
    before = after = touched = 0
    for proof in corpus.proofs:
        changed = False
        for sentence, tree in zip(proof.sentences, proof.trees, strict=True):
            new = print_tactic(rewrite_with(tree, programs, proof.names))
            before += len(tokenize(sentence[:-1]))
            after += len(tokenize(new))
            changed |= any(p.name in new for p in programs)
        touched += changed
    return {
        "proofs": len(corpus.proofs),
        "proofs_rewritten": touched,
        "tokens_before": before,
        "tokens_after": after,
        "shrink": round(1 - after / before, 4) if before else 0.0,
        "skipped": dict(corpus.skipped),
    }


def row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    proofs = [r["proof"] for r in summary["results"] if r["proved"]]
    using = sum(any(program_calls(t) for t in p) for p in proofs)
    return {
        "row": name,
        "proved / attempted": f"{summary['proved']} / {summary['attempted']}",
        "pass@1": round(summary["pass_at_1"], 4),
        "mean proof length": round(sum(map(len, proofs)) / len(proofs), 2) if proofs else None,
        "uses library": round(using / len(proofs), 3) if proofs and "library" in name else None,
        "wall s": summary["wall_time_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="datasets/coq_trace")
    ap.add_argument("--library", required=True)
    ap.add_argument("--split", default="novel_files/test")
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--tactic-timeout", type=float, default=2.0)
    ap.add_argument("--model", help="model row: a model directory")
    ap.add_argument("--library-model", help="model + library row: a model trained with it")
    ap.add_argument("--num-candidates", type=int, default=8)
    ap.add_argument("--out", default="bench/results/introspection.json")
    args = ap.parse_args()
    if bool(args.model) != bool(args.library_model):
        ap.error("--model and --library-model go together")
    trace, library = Path(args.trace), Path(args.library)
    meta = json.loads((library / "library.json").read_text())
    verified = sum(p["verified"] for p in meta["programs"])

    t0 = time.perf_counter()
    shrink = compression(trace, args.split, library)
    print(f"compression of {args.split} human proofs ({time.perf_counter() - t0:.0f}s):")
    print_table([shrink], ["proofs", "proofs_rewritten", "tokens_before", "tokens_after", "shrink"])

    rows, summaries = [], {}
    candidates: list[tuple[str, TacticPolicy, str]] = [
        ("portfolio", PortfolioPolicy(), ""),
        ("portfolio + library", LibraryPolicy(PortfolioPolicy(), library), str(library)),
    ]
    if args.model:
        k = args.num_candidates
        with_library = LibraryPolicy(ModelPolicy(args.library_model, num_candidates=k), library)
        candidates += [
            ("model", ModelPolicy(args.model, num_candidates=k), ""),
            ("model + library", with_library, str(library)),
        ]
    for name, policy, lib in candidates:
        config = EvalConfig(
            split=args.split,
            limit=args.limit,
            time_limit_s=args.timeout,
            tactic_timeout=args.tactic_timeout,
            library=lib,
        )
        summaries[name] = evaluate(trace, policy, config)
        rows.append(row(name, summaries[name]))
    print(f"\n{args.split}, first {args.limit} theorems, {args.timeout:g} s search each:")
    print_table(rows, list(rows[0]))
    write_json(
        args.out,
        {
            "args": vars(args),
            "library": {
                "verified": verified,
                "mined": len(meta["programs"]),
                "mining_s": meta["mining_s"],
                "verification_s": meta["verification_s"],
            },
            "compression": shrink,
            "rows": rows,
            "results": {k: v["results"] for k, v in summaries.items()},
        },
    )


if __name__ == "__main__":
    main()
