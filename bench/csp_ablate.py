"""Seeded ablations of the link-editing CSP model: each variant trained with several seeds,
evaluated at equal steps and at equal wall-clock, reported as mean +- std over the seeds.

One training run per (variant, seed) gives both points: it trains until --steps or --minutes,
whichever comes first, is evaluated there, then resumes (checkpoints resume exactly) until the
other limit and is evaluated again. Constant LR after warm-up, so stopping earlier or later
changes nothing else. EMA weights are evaluated. Run with one thread and pin the process to a
core (`taskset -c 1`) so the wall-clock column compares like with like.

Variants (`--variants`, comma-separated; a variant is the Sudoku/maze preset plus one change):
    link, looped, plain, write-every-2, writer-lr-0.1, writer-lr-3, gate-init-0.1, l1, topk-4,
    topk-8

Run: .venv/bin/python bench/csp_ablate.py --task sudoku --seeds 0,1,2 --steps 300 --minutes 3 \\
         --train generated:2000:0:30-40 --test generated:300:1:30-40 [--json OUT]
     size generalisation (train on 15x15 mazes, test on 30x30; cells carry no position):
     .venv/bin/python bench/csp_ablate.py --task maze --variants link,looped --steps 1000 \\
         --minutes 4 --train generated:1000:0:20:15 --test generated:100:1:20:15 \\
         generated:100:2:60 --set model.positions=none model.link_init=4.0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import machine, write_json

from eval.csp import evaluate
from prover.csp.task import CSPData, fingerprint, resolve_data
from prover.csp.train import PRESETS, CSPTrainConfig, load_model, train
from prover.model.baselines import num_params
from prover.overrides import apply_overrides


def _enc(**changes: Any) -> Callable[[CSPTrainConfig], CSPTrainConfig]:
    def apply(cfg: CSPTrainConfig) -> CSPTrainConfig:
        enc = dataclasses.replace(cfg.model.encoder, **changes)
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, encoder=enc))

    return apply


def _kind(kind: str) -> Callable[[CSPTrainConfig], CSPTrainConfig]:
    def apply(cfg: CSPTrainConfig) -> CSPTrainConfig:
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind=kind))

    return apply


def _writer_lr(mult: float) -> Callable[[CSPTrainConfig], CSPTrainConfig]:
    def apply(cfg: CSPTrainConfig) -> CSPTrainConfig:
        return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, writer_lr_mult=mult))

    return apply


VARIANTS: dict[str, Callable[[CSPTrainConfig], CSPTrainConfig]] = {
    "link": _kind("link"),
    "looped": _kind("looped"),
    "plain": _kind("plain"),
    "write-every-2": _enc(write_every=2),
    "writer-lr-0.1": _writer_lr(0.1),
    "writer-lr-3": _writer_lr(3.0),
    "gate-init-0.1": _enc(gate_init_std=0.1),
    "l1": _enc(score="l1"),
    "topk-4": _enc(pointer_topk=4),
    "topk-8": _enc(pointer_topk=8),
}


def config(
    task: str, variant: str, seed: int, train_spec: str, overrides: list[str]
) -> CSPTrainConfig:
    """The task's preset, the --set overrides (every variant), then the variant's change."""
    base = apply_overrides(PRESETS[task](), overrides)
    cfg = dataclasses.replace(
        base,
        seed=seed,
        data=train_spec,
        max_steps=10**9,
        optim=dataclasses.replace(base.optim, schedule="constant"),
    )
    return VARIANTS[variant](cfg)


def _evaluate(
    task: str, out: Path, tests: dict[str, CSPData], extra_steps: list[int]
) -> dict[str, Any]:
    """EMA weights on every test set, at the trained T and at each of `extra_steps`."""
    model, _, step = load_model(out)
    result: dict[str, Any] = {"step": step, "params": num_params(model), "tests": {}}
    recurrent = model.cfg.kind != "plain"
    for spec, data in tests.items():
        r = evaluate(task, data, model=model)
        row = {k: r[k] for k in ("exact_match", "cell_accuracy", "puzzles_per_s")}
        if "optimal_path" in r:
            row["optimal_path"] = r["optimal_path"]
        if recurrent:
            for t in extra_steps:
                rt = evaluate(task, data, model=model, num_steps=t)
                row[f"exact_at_{t}"] = rt["exact_match"]
                row[f"cell_at_{t}"] = rt["cell_accuracy"]
        result["tests"][spec] = row
    return result


def run_one(
    task: str,
    variant: str,
    seed: int,
    args: argparse.Namespace,
    tests: dict[str, CSPData],
) -> dict[str, Any]:
    """Train to the first of (steps, minutes), evaluate, resume to the other, evaluate. The
    equal-steps point is scored on the first test set only; the equal-wall-clock point on
    every test set and at every --eval-steps."""
    out = Path(args.out) / f"{task}-{variant}-seed{seed}"
    if out.exists():  # its checkpoints would resume past the points this run must take
        raise SystemExit(
            f"{out} exists but its run is not in the JSON: delete it (or pass the --json and "
            "the options it was made with) and run again"
        )
    cfg = config(task, variant, seed, args.train, args.set)
    extra = [int(t) for t in args.eval_steps.split(",") if t]
    main_test = dict([next(iter(tests.items()))])
    points: dict[str, Any] = {}
    first = train(dataclasses.replace(cfg, minutes=args.minutes), out, stop_at=args.steps)
    if first["stopped_by"] == "minutes":  # the wall-clock point comes first
        points["wall"] = _evaluate(task, out, tests, extra)
        points["wall_train_s"] = first["train_s"]
        rest = train(cfg, out, stop_at=args.steps)
        points["steps"] = _evaluate(task, out, main_test, [])
        points["steps_train_s"] = first["train_s"] + rest["train_s"]
        if rest["stopped_by"] == "minutes":
            raise RuntimeError(f"{out}: the equal-steps phase ran out of time")
    else:
        points["steps"] = _evaluate(task, out, main_test, [])
        points["steps_train_s"] = first["train_s"]
        left = args.minutes - first["train_s"] / 60
        rest = train(dataclasses.replace(cfg, minutes=max(left, 1e-3)), out)
        points["wall"] = _evaluate(task, out, tests, extra)
        points["wall_train_s"] = first["train_s"] + rest["train_s"]
    if points["steps"]["step"] != args.steps:
        raise RuntimeError(f"{out}: equal-steps point at step {points['steps']['step']}")
    return {
        "task": task,
        "variant": variant,
        "seed": seed,
        "out": str(out),
        "equal_steps": {**points["steps"], "train_s": points["steps_train_s"]},
        "equal_wall": {**points["wall"], "train_s": points["wall_train_s"]},
    }


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def summarise(runs: list[dict[str, Any]], test: str, key: str) -> list[str]:
    """Markdown rows: per variant, mean +- std over seeds at equal steps and equal wall-clock."""
    lines = [
        f"| variant | seeds | params | steps @ wall | {key} @ {runs[0]['equal_steps']['step']} "
        f"steps | {key} @ equal wall |",
        "|---|---|---|---|---|---|",
    ]
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["variant"], []).append(r)
    for variant, rs in by.items():
        steps = [float(r["equal_wall"]["step"]) for r in rs]
        at_steps = [r["equal_steps"]["tests"].get(test, {}).get(key) for r in rs]
        at_wall = [r["equal_wall"]["tests"][test][key] for r in rs]
        steps_cell = _mean_std(at_steps) if None not in at_steps else "-"  # first test only
        lines.append(
            f"| {variant} | {len(rs)} | {rs[0]['equal_wall']['params']:,} | "
            f"{statistics.mean(steps):.0f} | {steps_cell} | {_mean_std(at_wall)} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    ap.add_argument("--variants", default="link,looped,plain")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, required=True, help="the equal-steps point")
    ap.add_argument("--minutes", type=float, required=True, help="the equal-wall-clock point")
    ap.add_argument("--train", required=True, help="training data (file or generated:...)")
    ap.add_argument("--test", required=True, nargs="+", help="held-out data, one or more")
    ap.add_argument("--test-limit", type=int, help="first K puzzles of each test set")
    ap.add_argument("--eval-steps", default="", help="also evaluate recurrent models at T=...")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        help="key=value overrides for every variant, e.g. model.positions=none model.link_init=4.0",
    )
    ap.add_argument("--out", default="runs/csp_ablate", help="run directories go here")
    ap.add_argument("--json", help="default: bench/results/csp_ablate_<task>.json")
    ap.add_argument(
        "--summary-only", action="store_true", help="print the JSON's tables, train nothing"
    )
    args = ap.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: choose from {sorted(VARIANTS)}")
    torch.set_num_threads(args.threads)
    tests = {spec: resolve_data(args.task, spec, args.test_limit) for spec in args.test}
    path = args.json or f"bench/results/csp_ablate_{args.task}.json"
    meta = {
        "task": args.task,
        "steps": args.steps,
        "minutes": args.minutes,
        "threads": args.threads,
        "train": args.train,
        "set": args.set,
        "eval_steps": args.eval_steps,
        "train_sha256_16": fingerprint(resolve_data(args.task, args.train)),
        "tests": {s: fingerprint(d) for s, d in tests.items()},
        "machine": machine(),
    }
    runs: list[dict[str, Any]] = []
    if args.summary_only:
        runs = json.loads(Path(path).read_text())["runs"]
        variants, args.seeds = [], ""
    elif Path(path).exists():  # resume: keep finished (variant, seed) runs of the same setup
        old = json.loads(Path(path).read_text())
        if {k: old.get(k) for k in meta if k != "machine"} == {
            k: v for k, v in meta.items() if k != "machine"
        }:
            runs = old["runs"]
    done = {(r["variant"], r["seed"]) for r in runs}
    for seed in (int(s) for s in args.seeds.split(",") if s):
        for variant in variants:
            if (variant, seed) in done:
                continue
            start = time.perf_counter()
            runs.append(run_one(args.task, variant, seed, args, tests))
            r = runs[-1]
            first_test = next(iter(tests))
            print(
                f"{variant} seed {seed}: {time.perf_counter() - start:.0f} s; "
                f"steps@wall {r['equal_wall']['step']}; cell@steps "
                f"{r['equal_steps']['tests'][first_test]['cell_accuracy']:.3f}; cell@wall "
                f"{r['equal_wall']['tests'][first_test]['cell_accuracy']:.3f}",
                flush=True,
            )
            write_json(path, {**meta, "runs": runs})
    for test in tests:
        print(f"\n{args.task}, test {test}")
        for key in ("cell_accuracy", "exact_match"):
            print("\n".join(summarise(runs, test, key)))


if __name__ == "__main__":
    main()
