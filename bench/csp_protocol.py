"""The published Sudoku-Extreme / Maze-Hard protocol (HRM, arXiv:2506.21734; TRM,
arXiv:2510.04871), ready to run on a GPU, for the link-editing model and its baselines.

What the protocol fixes, and what this script does for each:
- 1,000 training puzzles with augmentation: Sudoku-Extreme's 1k training set
  (`../shared/data/sudoku/sudoku_extreme_train_1k.csv`; digit relabelling and band/stack/row/
  column/transpose symmetries drawn afresh for every batch, which covers the published 1,000
  precomputed augmentations per puzzle) and Maze-Hard's 1k training set (8 dihedral symmetries).
- Full test sets: Maze-Hard's 1,000 test mazes (shipped); for Sudoku the tdoku hard sets shipped
  in `../shared/data/sudoku/` unless `--test` names Sudoku-Extreme's test CSV (423k puzzles, not
  shipped: Hugging Face sapientinc/sudoku-extreme).
- Published optimisation (TRM's `pretrain.py` commands): AdamW lr 1e-4 with 2,000 warm-up steps
  and no decay, betas 0.9/0.95, weight decay 1.0, global batch 768, EMA 0.999, 50,000 epochs of
  the 1,000 puzzles, i.e. 50,000 x 1,000 / 768 = 65,104 optimiser steps.
- Published model size: width 512, 8 heads, 2 layers per block, 16 supervised recurrence
  segments. Here the block recurs T = 16 steps with the last 2 supervised (TRM supervises each
  of its 16 segments after 3 x 7 block applications; the link model's carry is its segment).

`--budget MINUTES` caps each model's training time (a CPU smoke run of the whole pipeline:
also pass a small `--batch` and `--test-limit`); without it every model trains the published
65,104 steps. Models train one after another into `--out`, resuming where a run stopped.

Run (GPU):  .venv/bin/python bench/csp_protocol.py --task sudoku
     (CPU smoke): .venv/bin/python bench/csp_protocol.py --task maze --budget 1 --batch 4 \\
                      --test-limit 20 --models link
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from _common import machine, print_table, write_json

from eval.csp import evaluate
from prover.csp.model import CSPModelConfig
from prover.csp.task import CSPDataError, fingerprint, resolve_data
from prover.csp.train import CSPTrainConfig, load_model, train
from prover.model.baselines import num_params
from prover.model.config import EncoderConfig
from prover.trainer import OptimConfig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAIN = {
    "sudoku": str(SHARED / "sudoku" / "sudoku_extreme_train_1k.csv"),
    "maze": str(SHARED / "maze" / "maze30_hard_train.jsonl"),
}
TEST = {
    "sudoku": [
        str(SHARED / "sudoku" / "puzzles3_magictour_top1465.csv"),
        str(SHARED / "sudoku" / "puzzles5_forum_hardest_1905_11+.csv"),
        str(SHARED / "sudoku" / "puzzles2_17_clue.csv"),
    ],
    "maze": [str(SHARED / "maze" / "maze30_hard_test.jsonl")],
}
PUZZLES, EPOCHS, BATCH = 1000, 50_000, 768
PUBLISHED_STEPS = EPOCHS * PUZZLES // BATCH  # 65,104


def protocol_config(task: str, kind: str, batch: int, budget: float | None) -> CSPTrainConfig:
    """The published optimisation and model size for `kind` ("link", "looped", "plain")."""
    enc = EncoderConfig(
        d_model=512,
        num_heads=8,
        d_ff=2048,
        num_layers=2,
        num_steps=16,
        grad_steps=2,
        pointer_dim=32,
        pointer_topk=8,
    )
    optim = OptimConfig(
        lr=1e-4, weight_decay=1.0, beta1=0.9, beta2=0.95, warmup_steps=2000, schedule="constant"
    )
    return CSPTrainConfig(
        optim=optim,
        batch_size=batch,
        max_steps=PUBLISHED_STEPS,
        minutes=budget,
        checkpoint_every=2000,
        model=CSPModelConfig(task=task, kind=kind, encoder=enc),  # type: ignore[arg-type]
        data=TRAIN[task],
        augment=True,
        ema_decay=0.999,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    ap.add_argument("--models", default="link,looped,plain")
    ap.add_argument("--budget", type=float, help="minutes per model (CPU smoke runs)")
    ap.add_argument("--batch", type=int, default=BATCH, help=f"global batch (published {BATCH})")
    ap.add_argument("--train", help="training file (default: the shared 1k set)")
    ap.add_argument("--test", nargs="+", help="test files (default: the shared full test sets)")
    ap.add_argument("--test-limit", type=int, help="first K puzzles of each test set")
    ap.add_argument("--out", default="runs/csp_protocol")
    ap.add_argument("--json", help="default: bench/results/csp_protocol_<task>.json")
    args = ap.parse_args()
    files = [args.train or TRAIN[args.task], *(args.test or TEST[args.task])]
    missing = [f for f in files if not f.startswith("generated:") and not Path(f).exists()]
    if missing:
        raise SystemExit(f"error: {missing[0]} does not exist; pass --train/--test, or put "
                         "the shared data beside the repository (../shared/data)")  # fmt: skip
    try:
        tests = {
            s: resolve_data(args.task, s, args.test_limit) for s in args.test or TEST[args.task]
        }
    except CSPDataError as e:
        raise SystemExit(f"error: {e}") from None
    rows: list[dict[str, Any]] = []
    for kind in args.models.split(","):
        cfg = protocol_config(args.task, kind, args.batch, args.budget)
        if args.train:
            cfg = dataclasses.replace(cfg, data=args.train)
        budget = (
            f"-budget{args.budget:g}" if args.budget else ""
        )  # a smoke run never resumes a real one
        out = Path(args.out) / f"{args.task}-{kind}-b{args.batch}{budget}"
        summary = train(cfg, out)
        model, _, step = load_model(out)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
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
    columns = ["model", "test", "params", "steps", "train_s", "exact_match", "cell_accuracy"]
    if args.task == "maze":
        columns.append("optimal_path")
    print(
        f"\n{args.task}: published protocol, {PUBLISHED_STEPS} steps at batch {BATCH}"
        + (f"; this run: budget {args.budget} min, batch {args.batch}" if args.budget else "")
    )
    print_table(rows, columns)
    meta = {
        "task": args.task,
        "budget_minutes": args.budget,
        "batch": args.batch,
        "published_steps": PUBLISHED_STEPS,
        "tests": {s: fingerprint(d) for s, d in tests.items()},
        "machine": machine(),
    }
    write_json(args.json or f"bench/results/csp_protocol_{args.task}.json", {**meta, "rows": rows})


if __name__ == "__main__":
    main()
