"""The one training loop and what it is made of: `TrainConfig` (the settings every trainer
shares), the optimiser and its LR schedule, seeding, atomic checkpoints (`ckpt_{step:06d}.pt`)
that resume exactly, and `run_training`, which drives a `TrainTask`.

A trainer (`prover/train.py` for the tactic model, `prover/csp/train.py` for the CSP models)
supplies only what differs, as a `TrainTask`: its data, its model, the (loss, metrics) of a
step's batch, extra checkpoint state (the CSP models' EMA) and what follows the last step (the
tactic model's `model/` folder). `run_training` does the rest: `accelerate` set-up, refusing
to resume a run directory with another config or other data, `config.json`, the progress bar,
`log.jsonl`, the wall-clock budget, the optimiser step, the checkpoint cadence, the summary.

A task's batch of step s must be a pure function of (seed, s): the data position is the step,
so a resumed run sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import subprocess
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from prover.overrides import from_dict

CHECKPOINT_GLOB = "ckpt_*.pt"
C = TypeVar("C", bound="TrainConfig")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    warmup_steps: int = 100
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0
    # The link writer's parameters (every LinkWriter module's) train at lr x this.
    writer_lr_mult: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0:
            raise ValueError("lr must be positive and warmup_steps non-negative")
        if not self.writer_lr_mult > 0:
            raise ValueError(f"writer_lr_mult must be positive, got {self.writer_lr_mult}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")


@dataclass(frozen=True)
class TrainConfig:
    """The settings every trainer shares. A trainer's config subclasses it, adding its own
    fields after these and redeclaring a field to change its default."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    batch_size: int = 32  # global, split over processes
    max_steps: int = 2000  # also the cosine horizon
    minutes: float | None = None  # wall-clock budget; stops (and saves) when it is spent
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_steps < 1:
            raise ValueError("batch_size and max_steps must be at least 1")
        if self.minutes is not None and not self.minutes > 0:  # NaN is refused too
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if min(self.log_every, self.checkpoint_every, self.keep_checkpoints) < 1:
            raise ValueError("log_every, checkpoint_every and keep_checkpoints must be at least 1")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Scheduled(Protocol):
    @property
    def optim(self) -> OptimConfig: ...

    @property
    def max_steps(self) -> int: ...


def lr_factor(cfg: _Scheduled, step: int) -> float:
    """LR multiplier at `step`: linear warm-up, then constant or cosine to min_lr_ratio."""
    o = cfg.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - o.warmup_steps) / max(1, cfg.max_steps - o.warmup_steps))
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def checkpoints(out: Path) -> list[Path]:
    return sorted(out.glob(CHECKPOINT_GLOB))


def save_checkpoint(out: Path, state: dict[str, Any], keep: int) -> Path:
    path = out / f"ckpt_{state['step']:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a killed run leaves the previous checkpoint intact
    for old in checkpoints(out)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a truncated or foreign file
        raise ValueError(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); "
            "delete it to resume from the one before"
        ) from None
    return state


def out_of_time(accelerator: Any, start_s: float, minutes: float) -> bool:
    """Whether the wall-clock budget is spent, agreed by every process (the slowest clock
    decides), so no process leaves the training loop while the others wait in a collective."""
    spent = time.monotonic() - start_s > 60 * minutes
    if accelerator.num_processes == 1:
        return spent
    flag = torch.tensor([float(spent)], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def make_optimizer(
    model: torch.nn.Module, cfg: _Scheduled
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with `cfg.optim`'s settings and the warm-up + cosine/constant schedule."""
    o = cfg.optim
    params = list(model.parameters())
    groups: list[dict[str, Any]] = [{"params": params}]
    if o.writer_lr_mult != 1.0:  # one group otherwise: checkpoints of earlier runs still load
        from prover.model.encoder import LinkWriter

        writer = {
            id(p) for m in model.modules() if isinstance(m, LinkWriter) for p in m.parameters()
        }
        if not writer:
            raise ValueError(
                f"optim.writer_lr_mult={o.writer_lr_mult} but the model has no link writer "
                "(a looped or plain model): leave it at 1.0"
            )
        groups = [
            {"params": [p for p in params if id(p) not in writer]},
            {"params": [p for p in params if id(p) in writer], "lr": o.lr * o.writer_lr_mult},
        ]
    opt = torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay, betas=(o.beta1, o.beta2))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(cfg, s))


def training_state(
    step: int, model: torch.nn.Module, opt: Any, sched: Any, **extra: Any
) -> dict[str, Any]:
    """What a checkpoint holds: step (= data position), model, optimizer, scheduler, every
    RNG, plus `extra` (config, EMA, ...)."""
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "data_position": step,  # batches are a function of (seed, step)
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        },
        **extra,
    }


def restore(state: dict[str, Any], model: torch.nn.Module, opt: Any, sched: Any) -> int:
    """Load a `training_state` back (model, optimizer, scheduler, RNGs); returns its step."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return int(state["step"])


class StepLog:
    """A run's `log.jsonl` (main process only): one record every `every` steps and at the
    last step, then the checkpoint cadence: `save()` says whether this step saves."""

    def __init__(
        self, out: Path, *, every: int, checkpoint_every: int, last_step: int, enabled: bool
    ) -> None:
        self.fh = (out / "log.jsonl").open("a") if enabled else None
        self.every, self.checkpoint_every, self.last_step = every, checkpoint_every, last_step
        self.enabled = enabled

    def record(self, step: int, lr: float, elapsed_s: float, metrics: dict[str, float]) -> None:
        if self.fh is not None and (step % self.every == 0 or step == self.last_step):
            row = {"step": step, "lr": lr, "elapsed_s": elapsed_s, **metrics}
            self.fh.write(json.dumps(row) + "\n")
            self.fh.flush()

    def save(self, step: int) -> bool:
        return self.enabled and step % self.checkpoint_every == 0

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


# --- the run directory ---


def _read_meta(out: Path) -> dict[str, Any]:
    """A run directory's config.json: {"config": {...}, "commit": ..., "data": {...}}."""
    path = out / "config.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{out} is not a training run: no config.json") from None
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is corrupt: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ValueError(f"{path} is corrupt or from another version: no 'config' object")
    return meta


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON has the annotated type (an int passes for a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_fits, value, args))
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):  # a nested config's own fields are `_misfit`'s to check
        return isinstance(value, hint)
    return True  # an annotation this check does not model


def _misfit(cfg: Any) -> str | None:
    """The first (dotted) field of a config whose value has the wrong type, if any."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value, hint = getattr(cfg, f.name), hints[f.name]
        if not _fits(value, hint):
            return f"{f.name} = {value!r}"
        inner = _misfit(value) if dataclasses.is_dataclass(hint) else None
        if inner is not None:
            return f"{f.name}.{inner}"
    return None


def load_config(out: Path, cls: type[C]) -> C:
    """The `cls` config saved in a run directory's config.json; a corrupt one (bad JSON, an
    unknown key, a value of the wrong type) is a ValueError that names the file."""
    path, saved = out / "config.json", _read_meta(out)["config"]
    try:
        cfg = from_dict(cls, saved)
    except (AttributeError, TypeError, ValueError) as e:  # OverrideError is a ValueError
        raise ValueError(f"{path} is corrupt or from another version: {e}") from None
    wrong = _misfit(cfg)
    if wrong is not None:
        raise ValueError(f"{path} is corrupt or from another version: {wrong} has the wrong type")
    return cfg


def _refuse_other_config(cfg: TrainConfig, out: Path) -> list[Path]:
    """`out`'s checkpoints, after checking they belong to `cfg` (only the budget may differ)."""
    existing = checkpoints(out) if out.exists() else []
    if existing:
        saved = load_config(out, type(cfg))
        if dataclasses.replace(saved, minutes=cfg.minutes, max_steps=cfg.max_steps) != cfg:
            raise ValueError(f"{out} holds a run with another config; use a new --out directory")
    return existing


def _refuse_other_data(out: Path, data: dict[str, Any]) -> None:
    saved = _read_meta(out).get("data")
    if not isinstance(saved, dict) or saved.get("sha256_16") != data.get("sha256_16"):
        raise ValueError(
            f"{out} was trained on other data (it changed since); use a new --out directory"
        )


# --- the loop ---


class TrainTask:
    """A trainer's side of `run_training`. Call order: `load_data`; `build_model` (just after
    seeding); `load_extra` when resuming; per step `loss_and_metrics` then `after_step`;
    `extra_state` at each checkpoint; `finish` once, on the main process, after the last."""

    name = "train"  # the progress bar's label
    find_unused_parameters = False  # for DDP: some parameters may get no gradient

    def load_data(self, out: Path, accelerator: Any) -> dict[str, Any]:
        """Load the data (and write what derives from it into `out`, e.g. a tokenizer, main
        process first); returns its description for config.json, with a `sha256_16` key."""
        raise NotImplementedError

    def build_model(self) -> nn.Module:
        """A fresh model; torch's RNG was seeded just before."""
        raise NotImplementedError

    def loss_and_metrics(
        self, model: nn.Module, step: int, rank: int, world: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Process `rank`'s (of `world`) share of step `step`'s batch, on `device`, through
        `model`: the scalar loss to minimise and the floats to log, "loss" among them."""
        raise NotImplementedError

    def after_step(self, model: nn.Module) -> None:
        """Called after each optimiser step with the unwrapped model (e.g. an EMA update)."""
        return None

    def extra_state(self) -> dict[str, Any]:
        """More checkpoint entries (e.g. {"ema": ...})."""
        return {}

    def load_extra(self, state: dict[str, Any]) -> None:
        """Restore `extra_state`'s entries from a checkpoint."""
        return None

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        """The progress bar's postfix."""
        return {"loss": f"{metrics['loss']:.3f}"}

    def finish(self, model: nn.Module, step: int, out: Path) -> None:
        """After the final checkpoint, main process only (e.g. export the model)."""
        return None

    def summary(self) -> dict[str, Any]:
        """More keys for `run_training`'s summary."""
        return {}


def run_training(
    cfg: TrainConfig, task: TrainTask, out: str | Path, *, stop_at: int | None = None
) -> dict[str, Any]:
    """Train `task`'s model (resuming from `out`'s newest checkpoint if any) until max_steps,
    `stop_at` or the wall-clock budget; returns a summary (steps, stopped_by, train_s,
    first_loss, metrics, out, and `task.summary()`). Works under `accelerate launch`."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from tqdm import tqdm

    out = Path(out)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=task.find_unused_parameters)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
    is_main = accelerator.is_main_process
    if cfg.batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by {accelerator.num_processes} processes"
        )
    existing = _refuse_other_config(cfg, out)
    data = task.load_data(out, accelerator)

    seed_everything(cfg.seed)  # before building the model: its init draws from torch's RNG
    model = task.build_model()
    opt, sched = make_optimizer(model, cfg)
    step = 0
    if existing:
        _refuse_other_data(out, data)
        state = load_checkpoint(existing[-1])
        step = restore(state, model, opt, sched)
        task.load_extra(state)
    elif is_main:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"config": dataclasses.asdict(cfg), "commit": git_commit(), "data": data}
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")

    model, opt = accelerator.prepare(model, opt)
    raw_model = accelerator.unwrap_model(model)

    def save() -> None:
        extra = task.extra_state()
        state = training_state(step, raw_model, opt, sched, **extra, config=dataclasses.asdict(cfg))
        save_checkpoint(out, state, cfg.keep_checkpoints)

    last_step = min(cfg.max_steps, stop_at) if stop_at is not None else cfg.max_steps
    start_s = time.monotonic()
    bar = tqdm(
        total=last_step,
        initial=step,
        disable=not is_main,
        desc=task.name,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    log = StepLog(
        out,
        every=cfg.log_every,
        checkpoint_every=cfg.checkpoint_every,
        last_step=last_step,
        enabled=is_main,
    )
    metrics: dict[str, float] = {}
    first_loss: float | None = None
    stopped_by = "max_steps"
    model.train()
    while step < last_step:
        if cfg.minutes is not None and out_of_time(accelerator, start_s, cfg.minutes):
            stopped_by = "minutes"
            break
        rank, world = accelerator.process_index, accelerator.num_processes
        loss, metrics = task.loss_and_metrics(model, step, rank, world, accelerator.device)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if cfg.optim.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        task.after_step(raw_model)
        step += 1
        first_loss = metrics["loss"] if first_loss is None else first_loss
        bar.update(1)
        bar.set_postfix(task.postfix(metrics))
        log.record(step, float(sched.get_last_lr()[0]), time.monotonic() - start_s, metrics)
        if log.save(step):
            save()
    bar.close()
    if step == last_step and stop_at is not None and stop_at < cfg.max_steps:
        stopped_by = "stop_at"
    accelerator.wait_for_everyone()
    if is_main:
        save()
        task.finish(raw_model, step, out)
    log.close()
    return {
        "steps": step,
        "stopped_by": stopped_by,
        "train_s": round(time.monotonic() - start_s, 1),
        "first_loss": first_loss,
        "metrics": metrics,
        "out": str(out),
        **task.summary(),
    }
