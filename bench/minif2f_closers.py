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
import math
import sys
import time
from pathlib import Path

from _common import print_table, write_json

from eval.minif2f_coq import DATA_ROOT
from prover.data import Theorem, statement_files, statement_half
from prover.envs import get_env
from prover.envs.base import EnvError, Proved
from prover.envs.coq_axioms import CLASSICAL
from prover.envs.coq_xml import find_coqidetop
from prover.episodes import verify_found
from prover.policies.portfolio import ARITH_IMPORTS, UNFOLD_DEFS

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


def _inputs(args: argparse.Namespace) -> tuple[list[Theorem], set[str]]:
    """The problems to try and those skipped; `ValueError` with the message for bad input."""
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ValueError(f"--timeout {args.timeout}: give a positive number of seconds")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit {args.limit}: give at least 1")
    if Path(args.data).resolve().name != "valid":
        raise ValueError(f"--data {args.data}: closers are chosen on valid only, never test")
    find_coqidetop()  # BackendUnavailable (an EnvError) when Coq is missing
    half = statement_half(statement_files(Path(args.data)), args.half)
    skip: set[str] = set()
    if args.skip:
        try:
            payload = json.loads(Path(args.skip).read_text())
            if payload.get("benchmark") != "minif2f-coq":
                raise ValueError("not a miniF2F-Coq eval")
            skip = {r["theorem"] for r in payload["results"] if r["proved"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(
                f"--skip {args.skip}: not an eval minif2f --backend coq JSON ({e})"
            ) from None
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    skipped = {t.name for t in half} & skip
    return [t for t in half if t.name not in skip][: args.limit], skipped


def _try(theorems: list[Theorem], timeout: float) -> tuple[dict[str, list[str]], list[str]]:
    """Per problem, the candidates that close it and that Coq's re-check accepts; and the
    closes the re-check refused (none expected: each is printed)."""
    hits: dict[str, list[str]] = {}
    refused: list[str] = []
    with get_env("coq", tactic_timeout=timeout, allowed_axioms=CLASSICAL) as env:
        for t in theorems:
            try:
                state = env.open(file=t.file, theorem=t.name, imports=ARITH_IMPORTS)
            except EnvError as e:
                print(f"{t.name}: does not open ({e})", flush=True)
                continue
            closed = []
            for c in CANDIDATES:
                proof = [f"solve [{c}]."]
                if not isinstance(env.step(state, proof[0], timeout), Proved):
                    continue
                checked, _ = verify_found(env, t, proof, ARITH_IMPORTS, CLASSICAL)
                if checked.ok:
                    closed.append(c)
                else:
                    refused.append(f"{t.name}: {c}")
                    print(f"{t.name}: re-check refused {c!r}: {checked.reason}", flush=True)
            hits[t.name] = closed
            print(f"{t.name}: {len(closed)} candidates close it", flush=True)
    return hits, refused


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA_ROOT / "valid"))
    ap.add_argument("--half", choices=("train", "held"), default="train")
    ap.add_argument("--skip", help="an eval minif2f JSON: the problems it proved are left out")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per candidate")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json")
    args = ap.parse_args()
    try:
        theorems, skipped = _inputs(args)
    except (ValueError, EnvError, OSError) as e:
        print(f"minif2f_closers: error: {e}", file=sys.stderr)
        return 2

    start = time.monotonic()
    hits, refused = _try(theorems, args.timeout)
    table = []
    for c in CANDIDATES:
        by = [n for n, cs in hits.items() if c in cs]
        only = [n for n in by if hits[n] == [c]]
        table.append({"candidate": c, "closed": len(by), "only_it": len(only), "problems": by})
    print(
        f"{args.half} half of {args.data}: {len(hits)} problems tried"
        + (f" ({len(skipped)} skipped as proved by {args.skip})" if skipped else "")
        + f", {sum(1 for cs in hits.values() if cs)} closed by some candidate"
        + (f"; {len(refused)} closes refused by the re-check" if refused else "")
    )
    print_table(table, ["candidate", "closed", "only_it"])
    if args.json:
        write_json(
            args.json,
            {
                "half": args.half,
                "data": args.data,
                "timeout_s": args.timeout,
                "skipped": sorted(skipped),
                "hits": hits,
                "refused": refused,
                "candidates": table,
                "wall_s": time.monotonic() - start,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
