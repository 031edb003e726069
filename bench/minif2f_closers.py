"""Which combined closers close miniF2F-Coq problems that the portfolio does not: the tool that
chose `portfolio.ARITH_COMBINATORS`, on the training half of `valid` only.

Each candidate (`CANDIDATES`: a preparation, then a decision procedure) is tried once at the
root of every problem of the half, inside `solve [...]` with the arithmetic imports of
`--arith` (without Interval's), `--timeout` seconds each. A problem a candidate closes is then
re-checked from scratch (`env.verify`, the `classical` axioms allowed) before it counts.
Problems an earlier eval proved (`--skip EVAL.json`, e.g. the portfolio's run on the same
half) are left out, so the table says what each candidate adds. Printed: per candidate, the
problems it closed and those only it closed; `--json` writes the per-problem hits.

Choose on `--half train`; the held-out half is the measurement and `test` is never looked at.

Run: .venv/bin/python bench/minif2f_closers.py --half train \
         --skip bench/results/minif2f_coq_full/portfolio_train.json \
         --json bench/results/minif2f_closers.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import print_table, write_json

from eval.minif2f_coq import DATA_ROOT
from prover.data import statement_files, statement_half
from prover.envs import get_env
from prover.envs.base import EnvError, Proved
from prover.envs.coq_axioms import CLASSICAL
from prover.policies.portfolio import ARITH_IMPORTS

UNFOLD_DEFS = "repeat match goal with H : forall _, _ = _ |- _ => progress rewrite ?H in * end"
CANDIDATES = (
    "intros; subst; lra",
    "intros; subst; nra",
    "intros; subst; lia",
    "intros; subst; nia",
    f"intros; {UNFOLD_DEFS}; lra",
    f"intros; {UNFOLD_DEFS}; nra",
    f"intros; {UNFOLD_DEFS}; field_simplify in *; nra",
    "intros; field_simplify; lra",
    "intros; subst; field",
    "intros; subst; simpl in *; lia",
    "vm_compute; reflexivity",
    "intros; subst; compute; lra",
    "intros; subst; psatz R 2",
    "intros; destruct_all; nia",
    "intros; unfold Rabs in *; repeat destruct Rcase_abs; lra",
    "intros; split; intros; subst; lia",
    "intros; repeat split; lra",
    "intros; repeat split; lia",
    "intros; repeat split; nra",
    "intros; Z.to_euclidean_division_equations; lia",
    "intros; Z.to_euclidean_division_equations; nia",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA_ROOT / "valid"))
    ap.add_argument("--half", choices=("train", "held"), default="train")
    ap.add_argument("--skip", help="an eval minif2f JSON: the problems it proved are left out")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per candidate")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json")
    args = ap.parse_args()

    skip: set[str] = set()
    if args.skip:
        try:
            rows = json.loads(Path(args.skip).read_text())["results"]
            skip = {r["theorem"] for r in rows if r["proved"]}
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"--skip {args.skip}: not an eval minif2f JSON ({e})", file=sys.stderr)
            return 2
    try:
        theorems = statement_half(statement_files(Path(args.data)), args.half)
    except ValueError as e:
        print(f"--data {args.data}: {e}", file=sys.stderr)
        return 2
    theorems = [t for t in theorems if t.name not in skip][: args.limit]

    hits: dict[str, list[str]] = {}
    start = time.monotonic()
    with get_env("coq", tactic_timeout=args.timeout, allowed_axioms=CLASSICAL) as env:
        for t in theorems:
            try:
                state = env.open(file=t.file, theorem=t.name, imports=ARITH_IMPORTS)
            except EnvError as e:
                print(f"{t.name}: does not open ({e})", flush=True)
                continue
            closed = []
            for c in CANDIDATES:
                proof = [f"solve [{c}]."]
                if not isinstance(env.step(state, proof[0], args.timeout), Proved):
                    continue
                checked = env.verify(
                    file=t.file,
                    theorem=t.name,
                    proof=proof,
                    imports=ARITH_IMPORTS,
                    allowed_axioms=CLASSICAL,
                )
                if checked.ok:
                    closed.append(c)
            hits[t.name] = closed
            print(f"{t.name}: {len(closed)} candidates close it", flush=True)

    table = []
    for c in CANDIDATES:
        by = [n for n, cs in hits.items() if c in cs]
        only = [n for n in by if hits[n] == [c]]
        table.append({"candidate": c, "closed": len(by), "only_it": len(only), "problems": by})
    print(
        f"{args.half} half of {args.data}: {len(hits)} problems tried"
        + (f" ({len(skip)} skipped as proved by {args.skip})" if skip else "")
        + f", {sum(1 for cs in hits.values() if cs)} closed by some candidate"
    )
    print_table(table, ["candidate", "closed", "only_it"])
    if args.json:
        write_json(
            args.json,
            {
                "half": args.half,
                "data": args.data,
                "timeout_s": args.timeout,
                "skipped": sorted(skip),
                "hits": hits,
                "candidates": table,
                "wall_s": time.monotonic() - start,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
