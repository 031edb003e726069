"""Training the tactic model on a tiny traced Coq file: loss falls, exact resume, batches as a
function of (seed, step), and a real two-process `accelerate launch`.

Run: pytest tests/test_train.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from prover.data import TacticStep
from prover.tokenizer import load_tokenizer, train_tokenizer
from prover.train import TrainConfig, build_examples, make_batch, train

from .conftest import fast_train_config

FAST = fast_train_config()


def test_training_loss_falls_and_saves_a_loadable_model(trained: tuple[Path, dict]) -> None:
    out, summary = trained
    assert summary["steps"] == 120
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.3 * log[0]["loss"], (log[0], log[-1])
    from prover.model.tactic import TacticModel

    model = TacticModel.from_pretrained(str(out / "model"))
    assert model.config.vocab_size == len(load_tokenizer(out / "model"))


def test_resume_equals_an_uninterrupted_run(trace_dir: Path, tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, data=str(trace_dir), max_steps=8)
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "resumed", stop_at=4)
    assert [p.name for p in (tmp_path / "resumed").glob("ckpt_*.pt")] == ["ckpt_000004.pt"]
    train(cfg, tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "ckpt_000008.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "ckpt_000008.pt", weights_only=False)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"{name} differs after resume"
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert a["scheduler"] == b["scheduler"]


def test_resume_refuses_another_config(trace_dir: Path, tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, data=str(trace_dir), max_steps=2)
    train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        train(dataclasses.replace(cfg, seed=1), tmp_path / "run")


def test_batches_depend_only_on_seed_and_step_and_shard_across_ranks(
    trace_dir: Path, tmp_path: Path
) -> None:
    tok = train_tokenizer(["abc def", "trivial.", "split."] * 5, tmp_path / "tok", vocab_size=60)
    steps = [TacticStep("t", "f", f"goal {i}", f"tac{i}.", "no goals") for i in range(10)]
    ex = build_examples(tok, TrainConfig(batch_size=4), steps, steps[:2])
    assert (ex.num_traced, ex.num_replay) == (10, 4)  # replay_repeat=2
    cfg = TrainConfig(batch_size=4)
    a, b = make_batch(ex, cfg, 7), make_batch(ex, cfg, 7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(make_batch(ex, cfg, 8)["labels"], a["labels"])

    def rows(batch: dict[str, torch.Tensor]) -> list[list[int]]:
        return [[t for t in row.tolist() if t != -100] for row in batch["labels"]]

    shards = rows(make_batch(ex, cfg, 7, 0, 2)) + rows(make_batch(ex, cfg, 7, 1, 2))
    assert shards == rows(a)  # the two processes' halves make up the global batch


def test_accelerate_launch_with_two_cpu_processes(trace_dir: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher, "accelerate is a dependency: its launcher must sit beside python"
    out = tmp_path / "ddp"
    cmd = [launcher, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "prover.train"]
    cmd += ["--data", str(trace_dir), "--steps", "3", "--out", str(out), "batch_size=4"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    summaries = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and json.loads(summaries[0])["steps"] == 3  # one process prints
    assert (out / "ckpt_000003.pt").is_file() and (out / "model" / "model.safetensors").is_file()
