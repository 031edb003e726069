"""The one training loop, `prover.trainer.run_training`, driven by a synthetic task (a 1 -> 1
linear model fitting y = 2x): the loss falls; N steps + resume + N steps equal 2N straight
steps bit for bit (model, optimizer, scheduler, RNG, the task's extra state); a run directory
with another config or other data is refused; the wall-clock budget stops a run; the checkpoint
cadence keeps `keep_checkpoints` files; a corrupt config.json is one clear ValueError. Also the
shared `TrainConfig` fields and defaults of the two trainers' configs.

Run: pytest tests/test_trainer.py
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from prover.overrides import apply_overrides
from prover.trainer import OptimConfig, TrainConfig, TrainTask, load_config, run_training

FAST = TrainConfig(
    optim=OptimConfig(lr=0.05, warmup_steps=2, schedule="constant"),
    batch_size=8,
    max_steps=10,
    log_every=1,
    checkpoint_every=1000,
)


class Line(TrainTask):
    """y = 2x + noise. x is a function of (seed, step); the noise comes from torch's global RNG
    and `total` (a running sum of the weight) is extra checkpoint state, so an exact resume
    needs both the RNG and the extra state restored."""

    name = "fit y=2x"

    def __init__(self, cfg: TrainConfig, *, data: str = "y=2x", delay_s: float = 0.0) -> None:
        self.cfg, self.data, self.delay_s = cfg, data, delay_s
        self.total = 0.0

    def load_data(self, out: Path, accelerator: Any) -> dict[str, Any]:
        return {"source": self.data, "sha256_16": self.data}

    def build_model(self) -> nn.Module:
        return nn.Linear(1, 1)

    def loss_and_metrics(
        self, model: nn.Module, step: int, rank: int, world: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, float]]:
        time.sleep(self.delay_s)
        gen = torch.Generator().manual_seed(1000 * self.cfg.seed + step)
        x = torch.randn(self.cfg.batch_size, 1, generator=gen)  # (B, 1)
        y = 2 * x + 0.01 * torch.randn(self.cfg.batch_size, 1)  # (B, 1)
        loss = ((model(x.to(device)) - y.to(device)) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    def after_step(self, model: nn.Module) -> None:
        self.total += float(model.weight.detach().sum())

    def extra_state(self) -> dict[str, Any]:
        return {"total": self.total}

    def load_extra(self, state: dict[str, Any]) -> None:
        self.total = state["total"]


def _train(cfg: TrainConfig, out: Path, stop_at: int | None = None, **kw: Any) -> dict:
    return run_training(cfg, Line(cfg, **kw), out, stop_at=stop_at)


def _names(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("ckpt_*.pt"))


def _assert_same(a: Any, b: Any, where: str) -> None:
    """Nested dicts/lists/tuples of tensors, arrays and plain values are equal, bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: lengths {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def test_loss_falls_and_the_summary_and_run_directory_are_complete(tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, max_steps=100, log_every=10)
    summary = _train(cfg, tmp_path / "run")
    assert set(summary) == {"steps", "stopped_by", "train_s", "first_loss", "metrics", "out"}
    assert (summary["steps"], summary["stopped_by"]) == (100, "max_steps")
    assert summary["metrics"]["loss"] < 0.01 * summary["first_loss"], summary
    state = torch.load(tmp_path / "run" / "ckpt_000100.pt", weights_only=False)
    assert abs(float(state["model"]["weight"]) - 2.0) < 0.05, state["model"]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["config"]["max_steps"] == 100 and meta["data"]["sha256_16"] == "y=2x"


def test_stop_and_resume_equals_a_straight_run_bit_for_bit(tmp_path: Path) -> None:
    _train(FAST, tmp_path / "straight")
    first = _train(FAST, tmp_path / "resumed", stop_at=4)
    assert (first["steps"], first["stopped_by"]) == (4, "stop_at")
    assert _names(tmp_path / "resumed") == ["ckpt_000004.pt"]
    second = _train(FAST, tmp_path / "resumed")
    assert (second["steps"], second["stopped_by"]) == (10, "max_steps")
    a = torch.load(tmp_path / "straight" / "ckpt_000010.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "ckpt_000010.pt", weights_only=False)
    for key in ("model", "optimizer", "scheduler", "rng", "total", "step", "config"):
        _assert_same(a[key], b[key], key)
    assert a["total"] != 0.0  # after_step ran and its state was saved


def test_a_resume_without_the_rng_or_extra_state_would_differ(tmp_path: Path) -> None:
    """The straight-vs-resumed comparison above can fail: skipping the restored extra state
    (or drawing the RNG differently) changes the result."""
    _train(FAST, tmp_path / "straight")
    _train(FAST, tmp_path / "resumed", stop_at=4)

    class Forgetful(Line):
        def load_extra(self, state: dict[str, Any]) -> None:
            torch.randn(1)  # one extra draw from the restored global RNG

    run_training(FAST, Forgetful(FAST), tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "ckpt_000010.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "ckpt_000010.pt", weights_only=False)
    assert a["total"] != b["total"]
    assert not torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_refuses_a_run_directory_with_another_config_or_other_data(tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, max_steps=2)
    _train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        _train(dataclasses.replace(cfg, seed=1), tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        _train(dataclasses.replace(cfg, optim=OptimConfig(lr=0.01)), tmp_path / "run")
    with pytest.raises(ValueError, match="other data"):
        _train(cfg, tmp_path / "run", data="y=3x")
    longer = _train(dataclasses.replace(cfg, max_steps=5, minutes=30.0), tmp_path / "run")
    assert longer["steps"] == 5  # only the budget (max_steps, minutes) may change on resume


def test_the_wall_clock_budget_stops_and_saves(tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, max_steps=10_000, minutes=0.001)  # 60 ms
    summary = _train(cfg, tmp_path / "run", delay_s=0.02)
    assert summary["stopped_by"] == "minutes"
    assert 1 <= summary["steps"] < 100, summary
    assert _names(tmp_path / "run") == [f"ckpt_{summary['steps']:06d}.pt"]


def test_checkpoint_cadence_keeps_the_newest_files(tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, checkpoint_every=3, keep_checkpoints=2, log_every=4)
    _train(cfg, tmp_path / "two")
    assert _names(tmp_path / "two") == ["ckpt_000009.pt", "ckpt_000010.pt"]
    log = (tmp_path / "two" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [4, 8, 10]  # and always the last step
    _train(dataclasses.replace(cfg, keep_checkpoints=3), tmp_path / "three")
    assert _names(tmp_path / "three") == ["ckpt_000006.pt", "ckpt_000009.pt", "ckpt_000010.pt"]


CORRUPT = {
    "empty": b"",
    "not utf-8": b"\xff\xfe\x00",
    "a list": b"[1]",
    "config not an object": b'{"config": 5}',
    "unknown key": b'{"config": {"zzz": 1}}',
    "string for an int": b'{"config": {"seed": "7"}}',
    "list for a config": b'{"config": {"optim": [1]}}',
    "wrong nested type": b'{"config": {"optim": {"schedule": "linear"}}}',
    "NaN budget": b'{"config": {"minutes": NaN}}',
    "bool for an int": b'{"config": {"batch_size": true}}',
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_config_json_is_one_clear_value_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match=r"config\.json"):
        load_config(tmp_path, TrainConfig)


def test_config_json_that_is_a_folder_or_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    with pytest.raises(ValueError, match=r"config\.json is corrupt: .*directory"):
        load_config(tmp_path, TrainConfig)
    with pytest.raises(FileNotFoundError, match="not a training run"):
        load_config(tmp_path / "nothing", TrainConfig)


def test_load_config_round_trips_a_saved_config(tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, minutes=2.5, optim=OptimConfig(lr=1, warmup_steps=0))
    (tmp_path / "config.json").write_text(json.dumps({"config": dataclasses.asdict(cfg)}))
    assert load_config(tmp_path, TrainConfig) == cfg  # lr=1 (an int) passes for a float


def test_both_trainers_share_the_base_fields_with_their_own_defaults() -> None:
    from prover.csp.train import CSPTrainConfig
    from prover.train import TacticTrainConfig

    base = [f.name for f in dataclasses.fields(TrainConfig)]
    for cls in (TacticTrainConfig, CSPTrainConfig):
        assert [f.name for f in dataclasses.fields(cls)][: len(base)] == base
        cfg = apply_overrides(cls(), ["optim.warmup_steps=20", "batch_size=8", "minutes=1.5"])
        assert (cfg.optim.warmup_steps, cfg.batch_size, cfg.minutes) == (20, 8, 1.5)
        with pytest.raises(ValueError, match="checkpoint_every"):
            cls(checkpoint_every=0)
    tactic, csp = TacticTrainConfig(), CSPTrainConfig()
    assert (tactic.batch_size, tactic.max_steps, tactic.checkpoint_every) == (16, 20_000, 500)
    assert (csp.batch_size, csp.max_steps, csp.checkpoint_every) == (32, 2000, 250)
    assert (tactic.optim.lr, tactic.optim.warmup_steps) == (1e-3, 100)
    assert csp.optim == OptimConfig()
