"""Same wall-clock budget, same data, same held-out split: the link-editing model against the
looped (links frozen) and plain (non-recurrent, equal parameter count) baselines, plus the
exact solver as the ceiling. Prints one table and writes JSON.

Every model trains for --minutes with constant LR after warm-up (a cosine horizon would favour
whichever model runs the most steps), batch and seed equal, EMA weights evaluated.

Run: .venv/bin/python bench/csp_budget.py --task sudoku --minutes 5 \\
         --train generated:3000:0:30-40 --test generated:500:1:30-40 [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from _common import machine, print_table, write_json

from eval.csp import evaluate
from prover.csp.task import fingerprint, resolve_data
from prover.csp.train import PRESETS, load_model, train
from prover.model.baselines import num_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    ap.add_argument("--minutes", type=float, required=True, help="training budget per model")
    ap.add_argument("--train", required=True, help="training data (file or generated:...)")
    ap.add_argument("--test", required=True, nargs="+", help="held-out data, one or more")
    ap.add_argument("--test-limit", type=int, help="first K puzzles of each test set")
    ap.add_argument("--models", default="link,looped,plain")
    ap.add_argument("--out", default="runs/csp_budget", help="run directories go here")
    ap.add_argument("--json", help="default: bench/results/csp_budget_<task>.json")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())  # fixed for every model

    tests = {spec: resolve_data(args.task, spec, args.test_limit) for spec in args.test}
    rows = []
    for kind in args.models.split(","):
        base = PRESETS[args.task]()
        cfg = dataclasses.replace(
            base,
            model=dataclasses.replace(base.model, kind=kind),
            data=args.train,
            minutes=args.minutes,
            max_steps=10**9,
            optim=dataclasses.replace(base.optim, schedule="constant"),
        )
        out = Path(args.out) / f"{args.task}-{kind}-{int(time.time())}"
        summary = train(cfg, out)
        model, _, step = load_model(out)
        for spec, data in tests.items():
            r = evaluate(args.task, data, model=model)
            rows.append(
                {
                    "model": kind,
                    "params": num_params(model),
                    "steps": step,
                    "train_s": summary["train_s"],
                    "test": Path(spec).name,
                    **r,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    for spec, data in tests.items():
        r = evaluate(args.task, data)
        rows.append(
            {
                "model": "exact solver",
                "params": 0,
                "steps": 0,
                "train_s": 0.0,
                "test": Path(spec).name,
                **r,
            }
        )
    columns = [
        "model",
        "test",
        "params",
        "steps",
        "train_s",
        "exact_match",
        "cell_accuracy",
        "mean_steps",
        "puzzles_per_s",
    ]
    if args.task == "maze":
        columns.append("optimal_path")
    print(f"\n{args.task}: {args.minutes} min per model on {machine()['cpu']}; train {args.train}")
    print_table(rows, columns)
    meta = {
        "task": args.task,
        "minutes": args.minutes,
        "train": args.train,
        "train_sha256_16": fingerprint(resolve_data(args.task, args.train)),
        "tests": {s: fingerprint(d) for s, d in tests.items()},
    }
    write_json(args.json or f"bench/results/csp_budget_{args.task}.json", {**meta, "rows": rows})


if __name__ == "__main__":
    main()
