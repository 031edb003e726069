"""System 1 side by side: every policy on the same held-out theorems at the same budget.

Each row is one `springtail eval coq` run on the first `--limit` theorems of the trace's
`novel_files/test` (hash order), `--timeout` seconds each, each run pinned to one core of
`--cores` (`taskset`), one run per core at a time, so every run gets the same compute. Rows
(those whose inputs are given):

    portfolio        the fixed closers
    hammer           CoqHammer (`sauto`, then `hammer` with its default budget)
    knn-offline      retrieval over the trace's training split only
    knn-online       ... plus every proof verified earlier in the run
    model            the tactic model's generations (`--model`)
    hybrid           closers + online retrieval + the model (generating and ranking) + hammer
    hybrid-loop      hybrid with a loop's model and replay store (`--loop DIR`: its last
                     round's model; its replay proofs indexed, its outcomes calibrating)

With `--minif2f DIR` (a folder of miniF2F-Coq valid files), the rows run `springtail eval
minif2f --backend coq` on the first `--limit` files of the folder's held-out half (`--half
held`: the half `springtail loop --minif2f` does not search) instead, retrieval indexing
`--trace`'s training split.

The table: proved / attempted, pass@1, mean time per theorem, tactic calls per second, the
policy's share of search time, imports dropped, and which sources the proofs' steps came from.

Run: .venv/bin/python bench/system1.py --trace datasets/coq_trace --limit 40 --timeout 30
     [--model runs/m2] [--loop runs/loop_hybrid] [--rows portfolio,hammer,...] [--cores 0,1]
     [--out bench/results/system1]
     .venv/bin/python bench/system1.py --minif2f ../shared/data/minif2f_coq/valid
     --trace datasets/arith_trace --limit 40 --timeout 60 --model runs/arith_tiny/model
     --loop runs/loop_minif2f --out bench/results/minif2f_coq
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from _common import machine, print_table, write_json

# One core per run: torch and BLAS must not start a thread per machine core inside a run
# pinned to one (training pinned to one core with two threads ran 8x slower here).
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ROWS = ("portfolio", "hammer", "knn-offline", "knn-online", "model", "hybrid", "hybrid-loop")


def command(row: str, args: argparse.Namespace, out: Path) -> list[str] | None:
    """The eval command of a row, or None when its inputs were not given."""
    where = ["coq", "--data", args.trace, "--split", "novel_files/test"]
    if args.minif2f:
        where = ["minif2f", "--backend", "coq", "--data", args.minif2f, "--half", "held"]
        if row not in ("portfolio", "hammer", "model"):
            where += ["--trace", args.trace]
    base = [
        sys.executable,
        "-m",
        "prover.cli",
        "eval",
        *where,
        "--workers",  # one proof assistant per pinned core: each theorem gets the core
        "1",
        "--limit",
        str(args.limit),
        "--timeout",
        str(args.timeout),
        "--json",
        str(out / f"{row}.json"),
    ]
    if row in ("portfolio", "hammer"):
        return [*base, "--policy", row]
    if row == "knn-offline":
        return [*base, "--policy", "knn", "--offline"]
    if row == "knn-online":
        return [*base, "--policy", "knn"]
    if row in ("model", "hybrid"):
        if args.model is None:
            return None
        return [*base, "--policy", row, "--model", args.model]
    if row == "hybrid-loop":
        if args.loop is None:
            return None
        rounds = [
            json.loads(x) for x in (Path(args.loop) / "rounds.jsonl").read_text().split("\n") if x
        ]
        model = rounds[-1]["model"]
        replay = Path(args.loop) / "replay.sqlite"
        copy = out / "hybrid-loop.replay.sqlite"  # eval records into it: keep the loop's clean
        shutil.copyfile(replay, copy)
        return [*base, "--policy", "hybrid", "--model", model, "--replay", str(copy)]
    raise ValueError(row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", default="datasets/coq_trace")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--model", help="a trained model (rows model, hybrid)")
    ap.add_argument("--loop", help="a `springtail loop --policy hybrid` folder (row hybrid-loop)")
    ap.add_argument("--minif2f", metavar="DIR", help="miniF2F-Coq valid files (module docstring)")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--cores", default="0,1", help="one run at a time on each of these cores")
    ap.add_argument("--out", default="bench/results/system1")
    ap.add_argument(
        "--table-only", action="store_true", help="run nothing: tabulate the rows' JSON in --out"
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")
    jobs = [] if args.table_only else [(r, c) for r in rows if (c := command(r, args, out))]
    pin = shutil.which("taskset")
    running: list[tuple[str, subprocess.Popen[bytes], float, int]] = []
    free = [int(c) for c in args.cores.split(",")]
    while jobs or running:
        while jobs and free:
            row, cmd = jobs.pop(0)
            core = free.pop(0)
            full = [pin, "-c", str(core), *cmd] if pin else cmd
            log = (out / f"{row}.log").open("wb")
            print(f"start {row} on core {core}: {' '.join(cmd[1:])}", flush=True)
            proc = subprocess.Popen(full, stdout=log, stderr=log, env=ONE_THREAD)
            running.append((row, proc, time.time(), core))
        time.sleep(2)
        for item in list(running):
            row, proc, t0, core = item
            if proc.poll() is not None:
                running.remove(item)
                free.append(core)
                print(f"done {row} (rc {proc.returncode}, {time.time() - t0:.0f} s)", flush=True)

    table = []
    for row in rows:
        path = out / f"{row}.json"
        if not path.is_file():
            continue
        s = json.loads(path.read_text())
        # the first --limit theorems of the run (a longer run is cut to the same theorems)
        results = s["results"][: args.limit]
        attempted = [r for r in results if r["status"] != "discarded"]
        proved = [r for r in attempted if r["proved"]]
        tot = {
            k: sum(r["search"].get(k, 0) for r in results)
            for k in ("tactic_calls", "policy_s", "env_s", "overhead_s")
        }
        wall = tot["policy_s"] + tot["env_s"] + tot["overhead_s"]
        table.append(
            {
                "row": row,
                "proved": len(proved),
                "attempted": len(attempted),
                "pass@1": round(len(proved) / max(len(attempted), 1), 3),
                "mean_time_s": round(
                    sum(r["time_s"] for r in attempted) / max(len(attempted), 1), 2
                ),
                "calls_per_s": round(tot["tactic_calls"] / wall, 2) if wall else 0.0,
                "policy_share": round(tot["policy_s"] / wall, 3) if wall else 0.0,
                "imports_dropped": sum(r["imports_dropped"] for r in attempted),
                "proof_step_sources": dict(
                    sorted(Counter(x for r in proved for x in r.get("sources", [])).items())
                ),
                "proved_theorems": sorted(r["theorem"] for r in proved),
                "hammer": s.get("policy_settings", {}).get("hammer"),
                "budget_s": s["budget"]["time_limit_s"],
            }
        )
    where = (
        f"the held-out half of {args.minif2f}" if args.minif2f else f"{args.trace} novel_files/test"
    )
    # the budget the rows ran with (their JSON), not this call's --timeout (--table-only)
    budgets = sorted({r["budget_s"] for r in table}) or [args.timeout]
    each = (
        f"{budgets[0]:g} s each"
        if len(budgets) == 1
        else "UNEQUAL budgets " + ", ".join(f"{b:g} s" for b in budgets)
    )
    print(
        f"\nmachine: {machine()['cpu']} x{machine()['cpu_count']}; {args.limit} theorems of "
        f"{where}, {each}, one core per run"
    )
    print_table(
        table,
        [
            "row",
            "proved",
            "attempted",
            "pass@1",
            "mean_time_s",
            "calls_per_s",
            "policy_share",
            "imports_dropped",
            "proof_step_sources",
        ],
    )
    write_json(str(out / "summary.json"), {"args": vars(args), "results": table})


if __name__ == "__main__":
    main()
