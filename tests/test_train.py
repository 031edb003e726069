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
from prover.train import TacticTrainConfig, build_examples, make_batch, train

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
    ex = build_examples(tok, TacticTrainConfig(batch_size=4), steps, steps[:2])
    assert (ex.num_traced, ex.num_replay) == (10, 4)  # replay_repeat=2
    cfg = TacticTrainConfig(batch_size=4)
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


# --- the command line: parsing is pure, `prepare` does (and prints) the work ---

LEAN_STEP = {"theorem": "t", "state_before": "⊢ 1 + 1 = 2", "tactic": "norm_num", "state_after": ""}


@pytest.fixture()
def no_trace_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A cwd without datasets/coq_trace, two shared Lean states, and a stand-in for tracing
    the Coq standard library that records where it was asked to trace."""
    import prover.envs.coq_trace
    import prover.train

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    lean = tmp_path / "shared" / "steps.jsonl"
    lean.parent.mkdir()
    lean.write_text((json.dumps(LEAN_STEP) + "\n") * 2)
    monkeypatch.setattr(prover.train, "SHARED_LEAN_STEPS", lean)
    traced: list[Path] = []
    monkeypatch.setattr(prover.envs.coq_trace, "resolve_files", lambda files: [])
    monkeypatch.setattr(prover.envs.coq_trace, "trace", lambda files, out, cfg: traced.append(out))
    return traced


def test_parse_args_reads_and_writes_nothing(no_trace_here: list[Path], tmp_path: Path) -> None:
    from prover.train import DEFAULT_TRACE, parse_args

    cfg, out = parse_args(["--out", "r", "--steps", "7", "batch_size=8"])
    assert (cfg.data, cfg.tokenizer_data, cfg.max_steps, cfg.batch_size) == (
        DEFAULT_TRACE,
        (),
        7,
        8,
    )
    assert out == Path("r")
    assert no_trace_here == [] and sorted(p.name for p in tmp_path.iterdir()) == ["shared"]


def test_prepare_does_and_prints_each_step(no_trace_here: list[Path]) -> None:
    import prover.train
    from prover.train import DEFAULT_TRACE, parse_args, prepare

    lean = prover.train.SHARED_LEAN_STEPS
    lines: list[str] = []
    cfg = prepare(parse_args(["--out", "r"])[0], log=lines.append)
    assert cfg.tokenizer_data == (str(lean),)
    assert no_trace_here == [Path(DEFAULT_TRACE)]
    assert lines == [
        f"tokenizer: also learning from 2 Lean states in {lean}",
        f"no trace at {DEFAULT_TRACE}: tracing the Coq standard library there first "
        "(about 6 minutes)",
    ]
    lines.clear()
    Path("elsewhere").mkdir()
    given = parse_args(["--out", "r", "--data", "elsewhere", "tokenizer_data=mine.jsonl"])[0]
    assert prepare(given, log=lines.append) == given  # data named, tokenizer data chosen
    assert lines == [] and len(no_trace_here) == 1
    # named data that is missing is refused before any step is taken (nor printed)
    missing = parse_args(["--out", "r", "--data", "nowhere"])[0]
    with pytest.raises(FileNotFoundError, match="nowhere not found"):
        prepare(missing, log=lines.append)
    assert lines == [] and len(no_trace_here) == 1


def test_prepare_refuses_to_trace_from_several_processes(
    no_trace_here: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prover.train import parse_args, prepare

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(FileNotFoundError, match="trace it before launching 2 processes"):
        prepare(parse_args(["--out", "r"])[0], log=lambda _: None)
    assert no_trace_here == []


def test_run_command_prepares_then_trains(
    no_trace_here: list[Path], trace_dir: Path, tmp_path: Path
) -> None:
    import prover.train
    from prover.train import run_command

    lines: list[str] = []
    out = tmp_path / "run"
    argv = ["--data", str(trace_dir), "--steps", "2", "--out", str(out), "vocab_size=300"]
    summary = run_command(argv, log=lines.append)
    assert (summary["steps"], summary["out"]) == (2, str(out)) and summary["examples"] > 0
    assert lines == [
        f"tokenizer: also learning from 2 Lean states in {prover.train.SHARED_LEAN_STEPS}"
    ]
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["tokenizer_data"] == [str(prover.train.SHARED_LEAN_STEPS)]
    assert (out / "model" / "model.safetensors").is_file()
