"""Training a CSP model (Sudoku, maze) with deep supervision, EMA, warm-up + cosine or constant
LR, a wall-clock budget, and checkpoints that resume exactly.

The batch of step s is a pure function of (seed, s): indices and augmentations are drawn from
`np.random.default_rng([seed, s])`, so the data position is the step and a resumed run sees
exactly the batches the uninterrupted run would have. Each process of `accelerate launch`
takes its slice of the global batch.

Run: accelerate launch -m prover.csp.train --task sudoku --out runs/sudoku [--minutes 10]
     (or `springtail csp train ...`; `key=value` overrides such as model.encoder.num_steps=4)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prover.csp.model import CSPModel, CSPModelConfig, loss_and_metrics
from prover.csp.task import CSPData, TaskSpec, fingerprint, get_task, resolve_data
from prover.model.config import EncoderConfig
from prover.overrides import Parser, apply_overrides, from_dict
from prover.training import (
    CHECKPOINT_GLOB,
    OptimConfig,
    StepLog,
    checkpoints,
    git_commit,
    load_checkpoint,
    make_optimizer,
    out_of_time,
    restore,
    save_checkpoint,
    seed_everything,
    training_state,
)


@dataclass(frozen=True)
class TrainConfig:
    model: CSPModelConfig = field(default_factory=CSPModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: str = "generated:2000:0"  # a CSV/JSONL file or generated:N:SEED[:...] (see task.py)
    batch_size: int = 32  # global, split over processes
    max_steps: int = 2000  # also the cosine horizon
    minutes: float | None = None  # wall-clock budget; stops (and saves) when it is spent
    augment: bool = True
    ema_decay: float = 0.999  # 0 turns EMA off
    halt_weight: float = 0.5
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_steps < 1:
            raise ValueError("batch_size and max_steps must be at least 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")


# --- presets ---


def sudoku_preset() -> TrainConfig:
    """Generated Sudoku with 30-40 givens; T=8 steps, the last 2 supervised (CPU minutes)."""
    enc = EncoderConfig(
        d_model=128, num_heads=4, d_ff=512, num_layers=2, num_steps=8, pointer_dim=16, grad_steps=2
    )
    # EMA 0.99: a CPU budget is hundreds of steps, which a 0.999 average would barely leave.
    return TrainConfig(model=CSPModelConfig(task="sudoku", encoder=enc), ema_decay=0.99)


def maze_preset() -> TrainConfig:
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
    return TrainConfig(
        model=CSPModelConfig(task="maze", encoder=enc),
        data="generated:1000:0",
        batch_size=8,
        ema_decay=0.99,
    )


PRESETS = {"sudoku": sudoku_preset, "maze": maze_preset}


# --- pieces ---


def make_batch(
    data: CSPData, spec: TaskSpec, cfg: TrainConfig, step: int, rank: int = 0, world: int = 1
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


def load_config(out: Path) -> TrainConfig:
    """The TrainConfig saved in a run directory's config.json."""
    path = out / "config.json"
    try:
        payload = json.loads(path.read_text())
        return from_dict(TrainConfig, payload["config"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{out} is not a training run: no config.json") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is corrupt or from another version: {e}") from None


def load_model(run_dir: str | Path, use_ema: bool = True) -> tuple[CSPModel, TrainConfig, int]:
    """(model in eval mode, its config, its step) from a run directory's latest checkpoint."""
    out = Path(run_dir)
    cfg = load_config(out)
    found = checkpoints(out)
    if not found:
        raise FileNotFoundError(f"{out} holds no checkpoint ({CHECKPOINT_GLOB})")
    state = load_checkpoint(found[-1])
    model = CSPModel(cfg.model)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    model.load_state_dict(weights)
    return model.eval(), cfg, int(state["step"])


# --- the loop ---


def train(cfg: TrainConfig, out: str | Path, stop_at: int | None = None) -> dict[str, Any]:
    """Train (resuming from the newest checkpoint in `out` if there is one) until max_steps,
    `stop_at` or the wall-clock budget; returns a summary. Works under `accelerate launch`."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from tqdm import tqdm

    out = Path(out)
    # Unused parameters happen (the halting head with halt_weight=0): let DDP tolerate them.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
    is_main = accelerator.is_main_process
    spec = get_task(cfg.model.task)
    data = resolve_data(cfg.model.task, cfg.data)
    if cfg.batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by {accelerator.num_processes} processes"
        )

    seed_everything(cfg.seed)  # before building the model: its init draws from torch's RNG
    model = CSPModel(cfg.model)
    opt, sched = make_optimizer(model, cfg)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    step = 0

    # --- resume ---
    existing = checkpoints(out) if out.exists() else []
    if existing:
        saved = load_config(out)
        if dataclasses.replace(saved, minutes=cfg.minutes, max_steps=cfg.max_steps) != cfg:
            raise ValueError(f"{out} holds a run with another config; use a new --out directory")
        state = load_checkpoint(existing[-1])
        step = restore(state, model, opt, sched)
        if ema is not None:
            ema.load_state_dict(state["ema"])
    elif is_main:
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "config": dataclasses.asdict(cfg),
            "commit": git_commit(),
            "data": {"source": data.source, "n": len(data), "sha256_16": fingerprint(data)},
        }
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")

    model, opt = accelerator.prepare(model, opt)
    raw_model = accelerator.unwrap_model(model)

    def state_dict() -> dict[str, Any]:
        return training_state(
            step,
            raw_model,
            opt,
            sched,
            ema=ema.state_dict() if ema is not None else None,
            config=dataclasses.asdict(cfg),
        )

    last_step = min(cfg.max_steps, stop_at) if stop_at is not None else cfg.max_steps
    start_s = time.monotonic()
    bar = tqdm(
        total=last_step,
        initial=step,
        disable=not is_main,
        desc=f"train {spec.name}",
        dynamic_ncols=True,
        file=sys.stderr,
    )
    metrics: dict[str, float] = {}
    stopped_by = "max_steps"
    log = StepLog(
        out,
        every=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every,
        last_step=last_step,
        enabled=is_main,
    )
    model.train()
    while step < last_step:
        if cfg.minutes is not None and out_of_time(accelerator, start_s, cfg.minutes):
            stopped_by = "minutes"
            break
        x, y = make_batch(
            data, spec, cfg, step, accelerator.process_index, accelerator.num_processes
        )
        x, y = x.to(accelerator.device), y.to(accelerator.device)
        loss, metrics = loss_and_metrics(model(x), y, cfg.halt_weight)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if cfg.optim.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(raw_model)
        step += 1
        bar.update(1)
        bar.set_postfix(
            loss=f"{metrics['loss']:.3f}",
            cell=f"{metrics['cell_acc']:.3f}",
            exact=f"{metrics['exact']:.2f}",
        )
        log.record(step, float(sched.get_last_lr()[0]), time.monotonic() - start_s, metrics)
        if log.save(step):
            save_checkpoint(out, state_dict(), cfg.keep_checkpoints)
    bar.close()
    if step == last_step and stop_at is not None and stop_at < cfg.max_steps:
        stopped_by = "stop_at"
    accelerator.wait_for_everyone()
    if is_main:
        save_checkpoint(out, state_dict(), cfg.keep_checkpoints)
    log.close()
    return {
        "steps": step,
        "stopped_by": stopped_by,
        "train_s": time.monotonic() - start_s,
        "metrics": metrics,
        "out": str(out),
    }


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, Path]:
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


def main(argv: list[str] | None = None) -> None:
    try:
        cfg, out = parse_args(argv)
        summary = train(cfg, out)
    except (ValueError, FileNotFoundError) as e:  # CSPDataError and OverrideError included
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
