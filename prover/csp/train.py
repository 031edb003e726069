"""Training a CSP model (Sudoku, maze) with deep supervision, EMA, warm-up + cosine or constant
LR, a wall-clock budget, and checkpoints that resume exactly.

The batch of step s is a pure function of (seed, s): indices and augmentations are drawn from
`np.random.default_rng([seed, s])`, so the data position is the step and a resumed run sees
exactly the batches the uninterrupted run would have. Each process of `accelerate launch`
takes its slice of the global batch. The loop is `prover.trainer.run_training`; this module
supplies its CSP side (`CSPTask`): data, model, loss, the EMA.

Run: accelerate launch -m prover.csp.train --task sudoku --out runs/sudoku [--minutes 10]
     (or `springtail csp train ...`; `key=value` overrides such as model.encoder.num_steps=4)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prover.csp.model import CSPModel, CSPModelConfig, loss_and_metrics
from prover.csp.task import CSPData, TaskSpec, fingerprint, get_task, resolve_data
from prover.model.config import EncoderConfig
from prover.overrides import Parser, apply_overrides
from prover.trainer import (
    CHECKPOINT_GLOB,
    OptimConfig,
    TrainConfig,
    TrainTask,
    checkpoints,
    load_checkpoint,
    load_config,
    run_training,
)


@dataclass(frozen=True)
class CSPTrainConfig(TrainConfig):
    """`TrainConfig`'s shared settings with the CSP defaults, then the CSP models' own."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    batch_size: int = 32  # global, split over processes
    max_steps: int = 2000  # also the cosine horizon
    checkpoint_every: int = 250
    model: CSPModelConfig = field(default_factory=CSPModelConfig)
    data: str = "generated:2000:0"  # a CSV/JSONL file or generated:N:SEED[:...] (see task.py)
    augment: bool = True
    ema_decay: float = 0.999  # 0 turns EMA off
    halt_weight: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


# --- presets ---


def sudoku_preset() -> CSPTrainConfig:
    """Generated Sudoku with 30-40 givens; T=8 steps, the last 2 supervised (CPU minutes)."""
    enc = EncoderConfig(
        d_model=128, num_heads=4, d_ff=512, num_layers=2, num_steps=8, pointer_dim=16, grad_steps=2
    )
    # EMA 0.99: a CPU budget is hundreds of steps, which a 0.999 average would barely leave.
    return CSPTrainConfig(model=CSPModelConfig(task="sudoku", encoder=enc), ema_decay=0.99)


def maze_preset() -> CSPTrainConfig:
    """30x30 mazes (900 cells): a narrower model, a smaller batch, and top-8 write pointers
    (the dense write is O(N^3) per head: 20x the rest of a step at N=900 on the CPU)."""
    enc = EncoderConfig(
        d_model=64,
        num_heads=2,
        d_ff=256,
        num_layers=1,
        num_steps=6,
        pointer_dim=16,
        grad_steps=2,
        pointer_topk=8,
    )
    return CSPTrainConfig(
        model=CSPModelConfig(task="maze", encoder=enc),
        data="generated:1000:0",
        batch_size=8,
        ema_decay=0.99,
    )


PRESETS = {"sudoku": sudoku_preset, "maze": maze_preset}


# --- pieces ---


def make_batch(
    data: CSPData, spec: TaskSpec, cfg: CSPTrainConfig, step: int, rank: int = 0, world: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (inputs, targets) slice of step `step`'s global batch for process `rank`."""
    rng = np.random.default_rng([cfg.seed, step])
    idx = rng.integers(0, len(data), size=cfg.batch_size)
    xs, ys = data.inputs[idx], data.targets[idx]
    if cfg.augment:
        pairs = [spec.augment(x, y, rng) for x, y in zip(xs, ys, strict=True)]
        xs = np.stack([p[0] for p in pairs])
        ys = np.stack([p[1] for p in pairs])
    per = cfg.batch_size // world
    sl = slice(rank * per, (rank + 1) * per)
    return torch.from_numpy(np.ascontiguousarray(xs[sl])), torch.from_numpy(
        np.ascontiguousarray(ys[sl])
    )


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v, 1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}


def load_model(run_dir: str | Path, use_ema: bool = True) -> tuple[CSPModel, CSPTrainConfig, int]:
    """(model in eval mode, its config, its step) from a run directory's latest checkpoint."""
    out = Path(run_dir)
    cfg = load_config(out, CSPTrainConfig)
    found = checkpoints(out)
    if not found:
        raise FileNotFoundError(f"{out} holds no checkpoint ({CHECKPOINT_GLOB})")
    state = load_checkpoint(found[-1])
    model = CSPModel(cfg.model)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    model.load_state_dict(weights)
    return model.eval(), cfg, int(state["step"])


# --- the loop ---


class CSPTask(TrainTask):
    """`run_training`'s CSP side: generated or loaded puzzles, deep supervision, the EMA."""

    find_unused_parameters = True  # the halting head gets no gradient when halt_weight=0

    def __init__(self, cfg: CSPTrainConfig) -> None:
        self.cfg = cfg
        self.spec = get_task(cfg.model.task)
        self.name = f"train {self.spec.name}"
        self.ema: EMA | None = None

    def load_data(self, out: Path, accelerator: Any) -> dict[str, Any]:
        self.data = resolve_data(self.cfg.model.task, self.cfg.data)
        return {
            "source": self.data.source,
            "n": len(self.data),
            "sha256_16": fingerprint(self.data),
        }

    def build_model(self) -> nn.Module:
        model = CSPModel(self.cfg.model)
        self.ema = EMA(model, self.cfg.ema_decay) if self.cfg.ema_decay > 0 else None
        return model

    def loss_and_metrics(
        self, model: nn.Module, step: int, rank: int, world: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = make_batch(self.data, self.spec, self.cfg, step, rank, world)
        return loss_and_metrics(model(x.to(device)), y.to(device), self.cfg.halt_weight)

    def after_step(self, model: nn.Module) -> None:
        if self.ema is not None:
            self.ema.update(model)

    def extra_state(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict() if self.ema is not None else None}

    def load_extra(self, state: dict[str, Any]) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        return {
            "loss": f"{metrics['loss']:.3f}",
            "cell": f"{metrics['cell_acc']:.3f}",
            "exact": f"{metrics['exact']:.2f}",
        }


def train(cfg: CSPTrainConfig, out: str | Path, stop_at: int | None = None) -> dict[str, Any]:
    """Train (resuming from the newest checkpoint in `out` if there is one) until max_steps,
    `stop_at` or the wall-clock budget; returns `run_training`'s summary. Works under
    `accelerate launch`."""
    return run_training(cfg, CSPTask(cfg), out, stop_at=stop_at)


def parse_args(argv: list[str] | None = None) -> tuple[CSPTrainConfig, Path]:
    """--task, --model, --data, --minutes, --out, and dotted key=value overrides."""
    ap = Parser(
        prog="springtail csp train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--task", choices=sorted(PRESETS), required=True)
    ap.add_argument("--model", choices=["link", "looped", "plain"], default="link")
    ap.add_argument(
        "--data", help="CSV/JSONL file in the shared formats, or generated:N:SEED[:...]"
    )
    ap.add_argument("--minutes", type=float, help="wall-clock training budget")
    ap.add_argument("--steps", type=int, help="max_steps")
    ap.add_argument("--out", required=True, help="run directory (resumed if it holds checkpoints)")
    args, rest = ap.parse_known_args(argv)
    cfg = PRESETS[args.task]()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kind=args.model))
    if args.data:
        cfg = dataclasses.replace(cfg, data=args.data)
    if args.minutes:
        cfg = dataclasses.replace(cfg, minutes=args.minutes)
    if args.steps:
        cfg = dataclasses.replace(cfg, max_steps=args.steps)
    return apply_overrides(cfg, rest), Path(args.out)


def run_command(argv: list[str]) -> dict[str, Any]:
    """`springtail csp train ARGV`: parse (no side effects), then train; returns the summary."""
    cfg, out = parse_args(argv)
    return train(cfg, out)


def main(argv: list[str] | None = None) -> None:
    try:
        summary = run_command(sys.argv[1:] if argv is None else argv)
    except (ValueError, FileNotFoundError) as e:  # CSPDataError and OverrideError included
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if os.environ.get("RANK", "0") == "0":  # one summary line under `accelerate launch`
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
