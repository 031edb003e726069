"""`make demo`: the whole loop on a fresh machine in about seven CPU minutes. Trace a slice of the
Coq standard library, train a tiny tactic model on it, run one round of expert iteration with
the hybrid policy (closers, online retrieval over the training proofs, the model generating
and ranking; search training lemmas, record every outcome in the replay store, retrain on the
verified proofs, evaluate), and print the portfolio baseline against the hybrid prover on
held-out lemmas at the same budget. Last, a line for miniF2F on Coq: the portfolio with the
real-arithmetic closers on the first `--minif2f-limit` problems (hash order) of
`../shared/data/minif2f_coq/valid`, under the `classical` axiom allowance.

Run: python -m eval.demo [--out datasets/demo_trace] [--run runs/demo] [--limit 12]

The run folder starts from scratch every time: a folder the demo made before (it leaves a
`.springtail-demo` mark in it; older runs are known by holding only what a run writes) is
replaced; any other non-empty folder is refused (exit 2), never deleted.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from eval import minif2f_coq
from eval.coq_split import evaluate
from eval.summary import EvalConfig
from prover.envs.coq_trace import TraceConfig, resolve_files, trace
from prover.loop import LoopConfig, run_loop, table
from prover.policies.portfolio import PortfolioPolicy
from prover.pool import PoolConfig

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


MARK = ".springtail-demo"
# What a demo run leaves in its folder (runs made before the mark existed have no mark).
DEMO_LAYOUT = re.compile(
    r"(rounds\.jsonl|rounds\.md|portfolio_eval\.json|minif2f_coq_eval\.json|replay\.sqlite(-wal|-shm)?|round_\d+"
    + "|"
    + re.escape(MARK)
    + ")"
)


def fresh_run_dir(run: Path) -> str | None:
    """Empty `run` for a new demo run and mark it as the demo's; the reason it cannot be
    used otherwise (it holds something the demo did not make)."""
    if run.exists() and not run.is_dir():
        return f"--run {run} is a file: give a folder"
    if run.is_dir() and any(run.iterdir()):
        made_by_demo = (run / MARK).is_file() or all(
            DEMO_LAYOUT.fullmatch(p.name) for p in run.iterdir()
        )
        if not made_by_demo:
            return (
                f"--run {run} is not empty and was not made by the demo; the demo starts from "
                "scratch and would delete what is there: give a new or empty folder"
            )
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    (run / MARK).write_text("made by `make demo` (eval/demo.py); replaced by the next run\n")
    return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="datasets/demo_trace")
    ap.add_argument("--run", default="runs/demo", help="model, replay store and loop rows")
    ap.add_argument("--limit", type=int, default=12, help="held-out lemmas")
    ap.add_argument("--timeout", type=float, default=8.0, help="search seconds per lemma")
    ap.add_argument("--train-minutes", type=float, default=3.0)
    ap.add_argument("--minif2f-limit", type=int, default=12, help="miniF2F-Coq valid problems")
    args = ap.parse_args(argv)
    out, run = Path(args.out), Path(args.run)
    problem = fresh_run_dir(run)
    if problem is not None:
        print(f"demo: error: {problem}", file=sys.stderr)
        raise SystemExit(2)

    print(f"== 1. tracing {', '.join(DEMO_FILES)} into {out}")
    manifest = trace(resolve_files(DEMO_FILES), out, TraceConfig(num_workers=2), log=lambda _: None)
    print(
        f"traced {manifest['num_theorems']} theorems, {manifest['num_steps']} tactic steps from "
        f"{manifest['num_files']} files in {manifest['wall_time_s']:.0f}s; splits: "
        f"{json.dumps(manifest['splits'])}"
    )
    split = "novel_files/test" if manifest["splits"]["novel_files"]["test"] else "random/test"
    train_split = split.replace("test", "train")

    print(
        f"\n== 2-3. training a tiny model for {args.train_minutes:g} min on {train_split}, then "
        f"one loop round (search training lemmas, record, retrain, evaluate on {split})"
    )
    loop = LoopConfig(
        data=str(out),
        train_split=train_split,
        eval_split=split,
        rounds=1,
        train_theorems=16,
        eval_theorems=args.limit,
        time_limit_s=args.timeout,
        tactic_timeout=2.0,
        minutes=1.0,
        initial_minutes=args.train_minutes,
        # minutes, not steps, bound these runs: a short warm-up and a constant rate
        train_overrides=("optim.warmup_steps=20", "optim.schedule=constant"),
        policy="hybrid",
        hammer_timeout=0.0,  # CoqHammer is not learned; `--policy hammer` measures it
    )
    rows = run_loop(loop, run)

    print(f"\n== 4. the portfolio baseline on the same {args.limit} held-out lemmas ({split})")
    config = EvalConfig(split, args.limit, args.timeout, tactic_timeout=2.0)
    # on Ray workers, as the loop's searches: each lemma gets one core and the same budget
    summary = evaluate(out, PortfolioPolicy(), config, tqdm.write, pool=PoolConfig())
    model = {f"hybrid (model round {r['round']})": r for r in rows}
    print(f"\n| prover | proved / attempted ({split}) | pass@1 |\n|---|---|---|")
    print(
        f"| portfolio | {summary['proved']} / {summary['attempted']} | {summary['pass_at_1']:.1%} |"
    )
    for name, r in model.items():
        print(
            f"| {name} | {r['eval_proved']} / {r['eval_attempted']} | {r['eval_pass_at_1']:.1%} |"
        )
    print(
        f"\nbudget: {args.timeout:g} s search and 2 s per tactic per lemma; "
        "every proof re-checked from scratch by coqc"
    )
    print("\nloop rounds:\n" + table(rows))
    (run / "portfolio_eval.json").write_text(json.dumps(summary, indent=2))
    minif2f_line(run, args.minif2f_limit, args.timeout)
    print(
        f"\nresults: {run}/rounds.jsonl, {run}/portfolio_eval.json, "
        f"{run}/minif2f_coq_eval.json, replay store {run}/replay.sqlite"
    )


def minif2f_line(run: Path, limit: int, timeout: float) -> None:
    """The portfolio (with `--arith`) on a sample of miniF2F-Coq valid: one table line."""
    try:
        theorems = minif2f_coq.load_theorems(None, "valid")[:limit]
    except (FileNotFoundError, ValueError) as e:
        print(f"\n== 5. miniF2F-Coq valid: skipped ({e})")
        return
    print(
        f"\n== 5. miniF2F-Coq valid: the portfolio with the arithmetic closers on the first "
        f"{len(theorems)} problems (hash order), {timeout:g} s each, axioms allowed: classical"
    )
    config = EvalConfig("valid", limit, timeout, tactic_timeout=2.0)
    policy = PortfolioPolicy(arith=True)
    summary = minif2f_coq.evaluate(theorems, policy, config, tqdm.write, pool=PoolConfig())
    print("\n| benchmark | prover | proved / attempted | discarded | pass@1 |")
    print("|---|---|---|---|---|")
    print(
        f"| miniF2F-Coq valid (first {len(theorems)}) | portfolio + arith | "
        f"{summary['proved']} / {summary['attempted']} | {summary['discarded']} | "
        f"{summary['pass_at_1']:.1%} |"
    )
    (run / "minif2f_coq_eval.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
