"""Supervised state -> tactic training of the tactic model, on traced steps mixed with the
verified proofs of a replay store; runs under `accelerate launch` (CPU, one or many GPUs).

    accelerate launch -m prover.train --preset tiny --data datasets/coq_trace --out runs/t0
    springtail train [--preset tiny|small|base] [--data DIR] [--minutes M] --out DIR [k=v ...]

The run directory holds `config.json`, `tokenizer/` (trained on the run's own states and
tactics unless `init_from` names a model whose tokenizer is reused), checkpoints
`ckpt_{step:06d}.pt` (model, optimizer, scheduler, RNG, data position) and, at the end,
`model/`: the `transformers` model + tokenizer that `--policy model --model DIR` loads.

With `library` (`--library LIBDIR`, a `springtail introspect` folder), every training tactic
is rewritten to call the library's programs where that is shorter (`introspect.rewrite`) and
the program names become single tokens; a run continuing `init_from` appends the names its
tokenizer lacks and grows the model's embeddings to match.

The batch of step s is a pure function of (seed, s): the data position is the step, and a run
resumed from a checkpoint sees exactly the batches the uninterrupted run would have. A
directory with checkpoints is resumed; one whose config or data differ is refused. The loop is
`prover.trainer.run_training`; this module supplies its tactic side (`TacticTask`).

The command line is `parse_args` (no side effects), then `prepare` (the work a command does
before training, each step printed: the shared Lean states join the tokenizer's corpus, a
missing default trace is traced from the Coq standard library), then `train`: `run_command`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prover.data import DataFormatError, TacticStep, load_steps
from prover.envs.coq_library import program_calls
from prover.introspect.mine import Program
from prover.introspect.rewrite import load_programs, rewrite_step
from prover.model.artifact import model_dir, save_model
from prover.model.config import PRESETS, ModelConfig, tiny
from prover.overrides import Parser, apply_overrides
from prover.tokenizer import (
    PAD,
    SpringtailTokenizer,
    add_symbols,
    load_tokenizer,
    train_tokenizer,
)
from prover.trainer import OptimConfig, TrainConfig, TrainTask, run_training

DEFAULT_TRACE = "datasets/coq_trace"
# Real Lean 4 proof states (../shared/data): the tokenizer also learns Lean's notation from
# them when they are present, so one vocabulary serves Coq and Lean.
SHARED_LEAN_STEPS = Path(__file__).resolve().parents[2] / "shared/data/lean_states/steps.jsonl"


@dataclass(frozen=True)
class TacticTrainConfig(TrainConfig):
    """`TrainConfig`'s shared settings with the tactic model's defaults, then its own."""

    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, warmup_steps=100))
    batch_size: int = 16  # global, split over processes
    max_steps: int = 20_000  # also the cosine horizon
    checkpoint_every: int = 500
    model: ModelConfig = field(default_factory=tiny)  # vocab_size is set from the tokenizer
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
    library: str | None = None  # a tactic library: targets call its programs, names are tokens

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_state_tokens > self.model.max_positions:
            raise ValueError(
                f"max_state_tokens {self.max_state_tokens} exceeds the model's max_positions "
                f"{self.model.max_positions}"
            )
        if self.max_tactic_tokens > self.model.max_target_positions:
            raise ValueError("max_tactic_tokens exceeds the model's max_target_positions")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")


def preset(name: str) -> TacticTrainConfig:
    """Training defaults for a model preset (tiny: CPU demo/tests, small: CPU hours, base: GPU)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(sorted(PRESETS))}")
    model = PRESETS[name]()
    if name == "tiny":
        return TacticTrainConfig(model=model, preset=name)
    if name == "small":
        return TacticTrainConfig(model=model, preset=name, max_state_tokens=384, batch_size=32)
    return TacticTrainConfig(
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


def traced_steps(cfg: TacticTrainConfig) -> list[TacticStep]:
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


def replay_steps(cfg: TacticTrainConfig) -> list[TacticStep]:
    """The (state, tactic) steps of the replay store's verified proofs, read through its
    `datasets.Dataset` export."""
    if cfg.replay is None or not Path(cfg.replay).exists():
        return []
    from prover.replay import ReplayStore

    with ReplayStore(cfg.replay, readonly=True) as store:
        ds = store.to_dataset("proof_steps")
    return [TacticStep(row["theorem"], row["file"], row["state"], row["tactic"], "") for row in ds]


def _call_library(
    steps: list[TacticStep], programs: Sequence[Program]
) -> tuple[list[TacticStep], int]:
    """The steps with each tactic rewritten to call the library's programs where shorter, and
    how many of them call a program (rewritten now, or already calling one, e.g. a replay
    proof found with the library)."""
    if not programs:
        return steps, 0
    out = [
        dataclasses.replace(s, tactic=rewrite_step(s.state_before, s.tactic, programs))
        for s in steps
    ]
    return out, sum(bool(program_calls(s.tactic)) for s in out)


def build_examples(
    tok: SpringtailTokenizer,
    cfg: TacticTrainConfig,
    traced: list[TacticStep],
    replay: list[TacticStep],
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
    ex: Examples, cfg: TacticTrainConfig, step: int, rank: int = 0, world: int = 1
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


# --- tokenizer and model ---


def _tokenizer_for(
    cfg: TacticTrainConfig, out: Path, traced: list[TacticStep], symbols: Sequence[str]
) -> SpringtailTokenizer:
    """The run's tokenizer: the one it saved, else `init_from`'s plus any library names it
    lacks (`symbols`, appended), else one trained on the run's texts with them."""
    tok_dir = out / "tokenizer"
    if (tok_dir / "spiece.model").is_file():
        return load_tokenizer(tok_dir)
    if cfg.init_from is not None:
        tok = load_tokenizer(model_dir(cfg.init_from))
        tok.save_pretrained(str(tok_dir))
        return add_symbols(tok_dir, symbols) if symbols else tok
    steps = traced + [s for extra in cfg.tokenizer_data for s in load_steps(extra)]
    texts = [t for s in steps for t in (s.state_before, s.tactic)]
    return train_tokenizer(
        texts, tok_dir, vocab_size=cfg.vocab_size, seed=cfg.seed, symbols=symbols
    )


def _model_config(cfg: TacticTrainConfig, tok: SpringtailTokenizer) -> ModelConfig:
    return dataclasses.replace(cfg.model, vocab_size=len(tok))


def _build_model(cfg: TacticTrainConfig, tok: SpringtailTokenizer) -> Any:
    from prover.model.tactic import TacticConfig, TacticModel

    if cfg.init_from is not None:
        init = TacticModel.from_pretrained(str(model_dir(cfg.init_from)))
        if init.config.model_config.vocab_size < len(tok):  # library names were added
            init.grow_vocabulary(len(tok))
        if init.config.model_config != _model_config(cfg, tok):
            raise ValueError(
                f"init_from {cfg.init_from} is a different model shape than this config "
                "(use the same preset and overrides as the run that trained it)"
            )
        return init.train()
    return TacticModel(TacticConfig.from_model_config(_model_config(cfg, tok)))


# --- training ---


class TacticTask(TrainTask):
    """`run_training`'s tactic side: traced + replay steps, the tokenizer, the model and, after
    the last step, `out/model` (see `prover.model.artifact`)."""

    name = "train tactic model"

    def __init__(self, cfg: TacticTrainConfig) -> None:
        self.cfg = cfg

    def load_data(self, out: Path, accelerator: Any) -> dict[str, Any]:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
        programs = load_programs(Path(self.cfg.library)) if self.cfg.library else []
        traced, calling = _call_library(traced_steps(self.cfg), programs)
        replay, calling_replay = _call_library(replay_steps(self.cfg), programs)
        if accelerator.is_main_process:  # trains (or copies) the tokenizer the others load
            out.mkdir(parents=True, exist_ok=True)
            tok = _tokenizer_for(self.cfg, out, traced, [p.name for p in programs])
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            tok = load_tokenizer(out / "tokenizer")
        self.tok = tok
        self.ex = build_examples(tok, self.cfg, traced, replay)
        self.data = {
            "source": self.cfg.data,
            "traced_steps": self.ex.num_traced,
            "replay_steps": self.ex.num_replay,
            "library": self.cfg.library,
            "library_programs": len(programs),
            "steps_calling_library": calling + calling_replay,
            "dropped_long_tactics": self.ex.dropped,
            "sha256_16": self.ex.fingerprint(),
        }
        return self.data

    def build_model(self) -> nn.Module:
        model: nn.Module = _build_model(self.cfg, self.tok)
        return model

    def loss_and_metrics(
        self, model: nn.Module, step: int, rank: int, world: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        batch = make_batch(self.ex, self.cfg, step, rank, world)
        batch = {k: v.to(device) for k, v in batch.items()}
        output = model(**batch)
        with torch.no_grad():
            mask = batch["labels"] != -100
            hit = (output.logits.argmax(-1) == batch["labels"]) & mask
            metrics = {
                "loss": float(output.loss.detach()),
                "token_acc": float(hit.sum() / mask.sum()),
                "tactic_acc": float((hit | ~mask).all(dim=1).float().mean()),
            }
        return output.loss, metrics

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{metrics['loss']:.3f}", "tok": f"{metrics['token_acc']:.3f}"}

    def finish(self, model: nn.Module, step: int, out: Path) -> None:
        info = {"step": step, "max_state_tokens": self.cfg.max_state_tokens, "data": self.data}
        save_model(model, self.tok, out / "model", info)

    def summary(self) -> dict[str, Any]:
        return {"examples": len(self.ex)}


def train(cfg: TacticTrainConfig, out: str | Path, stop_at: int | None = None) -> dict[str, Any]:
    """Train (resuming from `out`'s newest checkpoint if any) until max_steps, `stop_at` or
    the wall-clock budget; saves `out/model`; returns `run_training`'s summary plus
    `examples`. Works under `accelerate launch`."""
    return run_training(cfg, TacticTask(cfg), out, stop_at=stop_at)


# --- command line ---


def parse_args(argv: list[str] | None = None) -> tuple[TacticTrainConfig, Path]:
    """The config and run directory of `springtail train ARGV`; reads and writes nothing."""
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
    ap.add_argument(
        "--library",
        help="tactic library folder (`springtail introspect`): training tactics are rewritten "
        "to call its programs, and their names become single tokens",
    )
    ap.add_argument("--minutes", type=float, help="wall-clock training budget")
    ap.add_argument("--steps", type=int, help="max_steps")
    ap.add_argument("--out", required=True, help="run directory (resumed if it holds checkpoints)")
    args, rest = ap.parse_known_args(argv)
    cfg = preset(args.preset)
    flags = {"data": "data", "split": "split", "replay": "replay", "init_from": "init_from"}
    flags |= {"library": "library"}
    flags |= {"minutes": "minutes", "steps": "max_steps"}  # --flag -> TacticTrainConfig field
    changes: dict[str, Any] = {
        name: getattr(args, flag) for flag, name in flags.items() if getattr(args, flag)
    }
    cfg = dataclasses.replace(cfg, **changes)
    return apply_overrides(cfg, rest), Path(args.out)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def prepare(cfg: TacticTrainConfig, log: Callable[[str], None] = _stderr) -> TacticTrainConfig:
    """The work `springtail train` does before training, each step logged: the shared Lean
    states join the tokenizer's corpus (unless `tokenizer_data` is set), and the default trace
    folder, when missing, is traced from the Coq standard library. Returns the config to train.
    Data that is missing and will not be traced is refused before any step runs."""
    if cfg.data != DEFAULT_TRACE and not Path(cfg.data).exists():
        raise FileNotFoundError(
            f"{cfg.data} not found: give --data a trace folder, split file or steps.jsonl"
        )
    if cfg.library:  # a library that cannot be read is refused now, not after tracing
        programs = load_programs(Path(cfg.library))
        log(f"library: {len(programs)} programs from {cfg.library}; targets will call them")
    if not cfg.tokenizer_data and SHARED_LEAN_STEPS.is_file():
        num_states = len(load_steps(SHARED_LEAN_STEPS))
        log(f"tokenizer: also learning from {num_states} Lean states in {SHARED_LEAN_STEPS}")
        cfg = dataclasses.replace(cfg, tokenizer_data=(str(SHARED_LEAN_STEPS),))
    if cfg.data == DEFAULT_TRACE and not Path(cfg.data).exists():
        ensure_stdlib_trace(Path(cfg.data), log)
    return cfg


def ensure_stdlib_trace(path: Path, log: Callable[[str], None] = _stderr) -> None:
    """Trace the whole Coq standard library into `path` (about 6 minutes on 2 cores)."""
    from prover.envs.coq_trace import TraceConfig, resolve_files
    from prover.envs.coq_trace import trace as run_trace

    num_processes = int(os.environ.get("WORLD_SIZE", "1"))
    if num_processes > 1:  # every process would trace into the same folder at once
        raise FileNotFoundError(
            f"no trace at {path}: trace it before launching {num_processes} processes "
            f"(`springtail trace --backend coq --out {path}`)"
        )
    log(f"no trace at {path}: tracing the Coq standard library there first (about 6 minutes)")
    run_trace(resolve_files(None), path, TraceConfig(num_workers=2))


def run_command(argv: list[str], log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """`springtail train ARGV`: `parse_args`, `prepare` (logged), `train`; returns the summary."""
    cfg, out = parse_args(argv)
    return train(prepare(cfg, log), out)


def main(argv: list[str] | None = None) -> None:
    is_main = os.environ.get("RANK", "0") == "0"  # one copy of each line under `accelerate`
    try:
        summary = run_command(
            sys.argv[1:] if argv is None else argv, _stderr if is_main else lambda _: None
        )
    except (ValueError, FileNotFoundError, DataFormatError) as e:  # OverrideError included
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if is_main:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
