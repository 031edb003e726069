"""Supervised state -> tactic training of the tactic model, on traced steps mixed with the
verified proofs of a replay store; runs under `accelerate launch` (CPU, one or many GPUs).

    accelerate launch -m prover.train --preset tiny --data datasets/coq_trace --out runs/t0
    springtail train [--preset tiny|small|base] [--data DIR] [--minutes M] --out DIR [k=v ...]

The run directory holds `config.json`, `tokenizer/` (trained on the run's own states and
tactics unless `init_from` names a model whose tokenizer is reused), checkpoints
`ckpt_{step:06d}.pt` (model, optimizer, scheduler, RNG, data position) and, at the end,
`model/`: the `transformers` model + tokenizer that `--policy model --model DIR` loads.

The batch of step s is a pure function of (seed, s): the data position is the step, and a run
resumed from a checkpoint sees exactly the batches the uninterrupted run would have. A
directory with checkpoints is resumed; one whose config or data differ is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prover.data import DataFormatError, TacticStep, load_steps
from prover.model.config import PRESETS, ModelConfig, tiny
from prover.overrides import Parser, apply_overrides, from_dict
from prover.tokenizer import PAD, SpringtailTokenizer, load_tokenizer, train_tokenizer
from prover.training import (
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

DEFAULT_TRACE = "datasets/coq_trace"
# Real Lean 4 proof states (../shared/data): the tokenizer also learns Lean's notation from
# them when they are present, so one vocabulary serves Coq and Lean.
SHARED_LEAN_STEPS = Path(__file__).resolve().parents[2] / "shared/data/lean_states/steps.jsonl"


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=tiny)  # vocab_size is set from the tokenizer
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, warmup_steps=100))
    preset: str = "tiny"
    data: str = DEFAULT_TRACE  # trace / LeanDojo Benchmark 4 folder, a split file or steps.jsonl
    split: str = "novel_files/train"  # used when `data` is a folder
    extra_data: tuple[str, ...] = ()  # more step files (e.g. lean_states/steps.jsonl)
    tokenizer_data: tuple[str, ...] = ()  # step files whose texts only feed the tokenizer
    replay: str | None = None  # replay SQLite file: its verified proofs' steps are mixed in
    replay_repeat: int = 2  # each replay step is seen this many times as often as a traced one
    init_from: str | None = None  # a model directory to start from (its tokenizer is reused)
    vocab_size: int = 4000  # tokenizer target size (smaller when the corpus is small)
    max_state_tokens: int = 256
    max_tactic_tokens: int = 64
    batch_size: int = 16  # global, split over processes
    max_steps: int = 20_000  # also the cosine horizon
    minutes: float | None = None  # wall-clock budget; stops (and saves) when it is spent
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 500
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_steps < 1:
            raise ValueError("batch_size and max_steps must be at least 1")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.max_state_tokens > self.model.max_positions:
            raise ValueError(
                f"max_state_tokens {self.max_state_tokens} exceeds the model's max_positions "
                f"{self.model.max_positions}"
            )
        if self.max_tactic_tokens > self.model.max_target_positions:
            raise ValueError("max_tactic_tokens exceeds the model's max_target_positions")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")


def preset(name: str) -> TrainConfig:
    """Training defaults for a model preset (tiny: CPU demo/tests, small: CPU hours, base: GPU)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(sorted(PRESETS))}")
    model = PRESETS[name]()
    if name == "tiny":
        return TrainConfig(model=model, preset=name)
    if name == "small":
        return TrainConfig(model=model, preset=name, max_state_tokens=384, batch_size=32)
    return TrainConfig(
        model=model,
        preset=name,
        max_state_tokens=1024,
        batch_size=64,
        optim=OptimConfig(lr=5e-4, warmup_steps=500),
    )


# --- data ---


@dataclass(frozen=True)
class Examples:
    """Tokenized (state, tactic) pairs: traced steps first, then replay steps."""

    states: list[list[int]]
    tactics: list[list[int]]
    num_traced: int
    num_replay: int
    dropped: int  # tactics longer than max_tactic_tokens

    def __len__(self) -> int:
        return len(self.states)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for s, t in zip(self.states, self.tactics, strict=True):
            h.update(np.asarray(s, dtype=np.int32).tobytes() + b"|")
            h.update(np.asarray(t, dtype=np.int32).tobytes() + b"\n")
        return h.hexdigest()[:16]


def traced_steps(cfg: TrainConfig) -> list[TacticStep]:
    """The traced steps of `cfg.data` (+ `extra_data`); states with no goals are skipped."""
    path = Path(cfg.data)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: trace the Coq standard library first "
            f"(`springtail trace --backend coq --out {DEFAULT_TRACE}`) or pass --data"
        )
    steps = load_steps(path, cfg.split if path.is_dir() else None)
    for extra in cfg.extra_data:
        steps += load_steps(extra)
    return [s for s in steps if s.state_before.strip() and s.tactic.strip()]


def replay_steps(cfg: TrainConfig) -> list[TacticStep]:
    """The (state, tactic) steps of the replay store's verified proofs, read through its
    `datasets.Dataset` export."""
    if cfg.replay is None or not Path(cfg.replay).exists():
        return []
    from prover.replay import ReplayStore

    with ReplayStore(cfg.replay, readonly=True) as store:
        ds = store.to_dataset("proof_steps")
    return [TacticStep(row["theorem"], row["file"], row["state"], row["tactic"], "") for row in ds]


def build_examples(
    tok: SpringtailTokenizer, cfg: TrainConfig, traced: list[TacticStep], replay: list[TacticStep]
) -> Examples:
    states, tactics, dropped = [], [], 0
    counts = [0, 0]
    for k, group in enumerate((traced, replay * cfg.replay_repeat)):
        for s in group:
            tactic = tok.encode_tactic(s.tactic, cfg.max_tactic_tokens)
            if tactic is None:
                dropped += 1
                continue
            states.append(tok.encode_state(s.state_before, cfg.max_state_tokens))
            tactics.append(tactic)
            counts[k] += 1
    if not states:
        raise ValueError("no training examples: the data holds no steps that fit the model")
    return Examples(states, tactics, counts[0], counts[1], dropped)


def make_batch(
    ex: Examples, cfg: TrainConfig, step: int, rank: int = 0, world: int = 1
) -> dict[str, torch.Tensor]:
    """Process `rank`'s slice of step `step`'s global batch, padded to its longest member."""
    rng = np.random.default_rng([cfg.seed, step])
    idx = rng.integers(0, len(ex), size=cfg.batch_size)
    per = cfg.batch_size // world
    idx = idx[rank * per : (rank + 1) * per]
    n = max(len(ex.states[i]) for i in idx)
    m = max(len(ex.tactics[i]) for i in idx)
    input_ids = torch.full((len(idx), n), PAD, dtype=torch.long)
    attention_mask = torch.zeros((len(idx), n), dtype=torch.long)
    labels = torch.full((len(idx), m), -100, dtype=torch.long)
    for row, i in enumerate(idx):
        s, t = ex.states[i], ex.tactics[i]
        input_ids[row, : len(s)] = torch.tensor(s)
        attention_mask[row, : len(s)] = 1
        labels[row, : len(t)] = torch.tensor(t)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


# --- the run directory ---


def load_config(out: Path) -> TrainConfig:
    path = out / "config.json"
    try:
        payload = json.loads(path.read_text())
        return from_dict(TrainConfig, payload["config"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{out} is not a training run: no config.json") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is corrupt or from another version: {e}") from None


def _tokenizer_for(cfg: TrainConfig, out: Path, traced: list[TacticStep]) -> SpringtailTokenizer:
    tok_dir = out / "tokenizer"
    if (tok_dir / "spiece.model").is_file():
        return load_tokenizer(tok_dir)
    if cfg.init_from is not None:
        tok = load_tokenizer(model_dir(cfg.init_from))
        tok.save_pretrained(str(tok_dir))
        return tok
    steps = traced + [s for extra in cfg.tokenizer_data for s in load_steps(extra)]
    texts = [t for s in steps for t in (s.state_before, s.tactic)]
    return train_tokenizer(texts, tok_dir, vocab_size=cfg.vocab_size, seed=cfg.seed)


def model_dir(path: str | Path) -> Path:
    """A model directory, given it or the training run that wrote it (`RUN/model`)."""
    p = Path(path)
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "config.json").is_file() and (p / "spiece.model").is_file():
        return p
    raise FileNotFoundError(
        f"{p} holds no trained model (config.json + spiece.model, or model/ inside a run "
        "directory): train one with `springtail train --out DIR`"
    )


def _model_config(cfg: TrainConfig, tok: SpringtailTokenizer) -> ModelConfig:
    return dataclasses.replace(cfg.model, vocab_size=len(tok))


def _build_model(cfg: TrainConfig, tok: SpringtailTokenizer) -> Any:
    from prover.model.tactic import TacticConfig, TacticModel

    if cfg.init_from is not None:
        init = TacticModel.from_pretrained(str(model_dir(cfg.init_from)))
        if init.config.model_config != _model_config(cfg, tok):
            raise ValueError(
                f"init_from {cfg.init_from} is a different model shape than this config "
                "(use the same preset and overrides as the run that trained it)"
            )
        return init.train()
    return TacticModel(TacticConfig.from_model_config(_model_config(cfg, tok)))


def train(cfg: TrainConfig, out: str | Path, stop_at: int | None = None) -> dict[str, Any]:
    """Train (resuming from `out`'s newest checkpoint if any) until max_steps, `stop_at` or
    the wall-clock budget; saves `out/model`; returns a summary. Works under `accelerate`."""
    from accelerate import Accelerator
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars

    out = Path(out)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    is_main = accelerator.is_main_process
    if cfg.batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by {accelerator.num_processes} processes"
        )
    existing = checkpoints(out) if out.exists() else []
    if existing:
        saved = load_config(out)
        if dataclasses.replace(saved, minutes=cfg.minutes, max_steps=cfg.max_steps) != cfg:
            raise ValueError(f"{out} holds a run with another config; use a new --out directory")
    traced = traced_steps(cfg)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        tok = _tokenizer_for(cfg, out, traced)
    accelerator.wait_for_everyone()
    if not is_main:
        tok = load_tokenizer(out / "tokenizer")
    ex = build_examples(tok, cfg, traced, replay_steps(cfg))
    data_meta = {
        "source": cfg.data,
        "traced_steps": ex.num_traced,
        "replay_steps": ex.num_replay,
        "dropped_long_tactics": ex.dropped,
        "sha256_16": ex.fingerprint(),
    }

    seed_everything(cfg.seed)  # before building the model: its init draws from torch's RNG
    model = _build_model(cfg, tok)
    opt, sched = make_optimizer(model, cfg)
    step = 0
    if existing:
        meta = json.loads((out / "config.json").read_text())
        if meta.get("data", {}).get("sha256_16") != data_meta["sha256_16"]:
            raise ValueError(
                f"{out} was trained on other data (the trace or replay changed since); "
                "use a new --out directory"
            )
        step = restore(load_checkpoint(existing[-1]), model, opt, sched)
    elif is_main:
        meta = {"config": dataclasses.asdict(cfg), "commit": git_commit(), "data": data_meta}
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")

    model, opt = accelerator.prepare(model, opt)
    raw_model = accelerator.unwrap_model(model)

    def state_dict() -> dict[str, Any]:
        return training_state(step, raw_model, opt, sched, config=dataclasses.asdict(cfg))

    last_step = min(cfg.max_steps, stop_at) if stop_at is not None else cfg.max_steps
    start_s = time.monotonic()
    bar = tqdm(
        total=last_step,
        initial=step,
        disable=not is_main,
        desc="train tactic model",
        dynamic_ncols=True,
        file=sys.stderr,
    )
    metrics: dict[str, float] = {}
    first_loss: float | None = None
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
        batch = make_batch(ex, cfg, step, accelerator.process_index, accelerator.num_processes)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        output = model(**batch)
        loss = output.loss
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        if cfg.optim.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        step += 1
        with torch.no_grad():
            mask = batch["labels"] != -100
            hit = (output.logits.argmax(-1) == batch["labels"]) & mask
            metrics = {
                "loss": float(loss.detach()),
                "token_acc": float(hit.sum() / mask.sum()),
                "tactic_acc": float((hit | ~mask).all(dim=1).float().mean()),
            }
        first_loss = metrics["loss"] if first_loss is None else first_loss
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}", tok=f"{metrics['token_acc']:.3f}")
        log.record(step, float(sched.get_last_lr()[0]), time.monotonic() - start_s, metrics)
        if log.save(step):
            save_checkpoint(out, state_dict(), cfg.keep_checkpoints)
    bar.close()
    if step == last_step and stop_at is not None and stop_at < cfg.max_steps:
        stopped_by = "stop_at"
    accelerator.wait_for_everyone()
    if is_main:
        save_checkpoint(out, state_dict(), cfg.keep_checkpoints)
        save_model(
            raw_model,
            tok,
            out / "model",
            {"step": step, "max_state_tokens": cfg.max_state_tokens, "data": data_meta},
        )
    log.close()
    return {
        "steps": step,
        "stopped_by": stopped_by,
        "train_s": round(time.monotonic() - start_s, 1),
        "first_loss": first_loss,
        "metrics": metrics,
        "examples": len(ex),
        "out": str(out),
    }


def save_model(model: Any, tok: SpringtailTokenizer, path: Path, info: dict[str, Any]) -> None:
    """`save_pretrained` model + tokenizer into `path`, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / "springtail.json").write_text(json.dumps(info, indent=2) + "\n")
    old = path.with_name(path.name + ".old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)


# --- command line ---


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, Path]:
    ap = Parser(
        prog="springtail train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument(
        "--data",
        help=f"trace folder, split file or steps.jsonl (default {DEFAULT_TRACE}, traced from "
        "the Coq standard library when missing)",
    )
    ap.add_argument("--split", help="split of a trace folder (default novel_files/train)")
    ap.add_argument("--replay", help="replay SQLite file whose verified proofs are mixed in")
    ap.add_argument("--init-from", help="model directory to start from")
    ap.add_argument("--minutes", type=float, help="wall-clock training budget")
    ap.add_argument("--steps", type=int, help="max_steps")
    ap.add_argument("--out", required=True, help="run directory (resumed if it holds checkpoints)")
    args, rest = ap.parse_known_args(argv)
    cfg = preset(args.preset)
    flags = {"data": "data", "split": "split", "replay": "replay", "init_from": "init_from"}
    flags |= {"minutes": "minutes", "steps": "max_steps"}  # --flag -> TrainConfig field
    changes: dict[str, Any] = {
        name: getattr(args, flag) for flag, name in flags.items() if getattr(args, flag)
    }
    if SHARED_LEAN_STEPS.is_file():
        changes["tokenizer_data"] = (str(SHARED_LEAN_STEPS),)
    cfg = dataclasses.replace(cfg, **changes)
    cfg = apply_overrides(cfg, rest)
    if not args.data and not Path(cfg.data).exists():
        ensure_stdlib_trace(Path(cfg.data))
    return cfg, Path(args.out)


def ensure_stdlib_trace(path: Path) -> None:
    """Trace the whole Coq standard library into `path` (about 6 minutes on 2 cores)."""
    from prover.trace import TraceConfig, resolve_files
    from prover.trace import trace as run_trace

    print(f"no trace at {path}: tracing the Coq standard library there first", file=sys.stderr)
    run_trace(resolve_files(None), path, TraceConfig(num_workers=2))


def main(argv: list[str] | None = None) -> None:
    try:
        cfg, out = parse_args(argv)
        summary = train(cfg, out)
    except (ValueError, FileNotFoundError, DataFormatError) as e:  # OverrideError included
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if os.environ.get("RANK", "0") == "0":  # one summary line under `accelerate launch`
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
