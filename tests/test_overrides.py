"""Tests for prover/overrides.py: dotted key=value overrides of frozen dataclass configs.

Run: pytest tests/test_overrides.py
"""

from __future__ import annotations

import dataclasses

import pytest

from prover.csp.train import CSPTrainConfig
from prover.overrides import OverrideError, apply_overrides, from_dict


def test_nested_overrides_are_typed_and_validated():
    cfg = apply_overrides(
        CSPTrainConfig(),
        [
            "model.encoder.num_steps=4",
            "--optim.lr=0.01",
            "minutes=none",
            "augment=false",
            "model.kind=plain",
            "model.encoder.grad_steps=2",
        ],
    )
    assert cfg.model.encoder.num_steps == 4 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.lr == 0.01 and cfg.minutes is None and cfg.augment is False
    assert cfg.model.kind == "plain" and cfg.model.encoder.grad_steps == 2


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.encoder.num_stepz=4", "unknown config key 'num_stepz'"),
        ("batch_size=big", "batch_size expects int"),
        ("model.kind=huge", "kind must be one of"),
        ("model.encoder.d_model=30", "divisible"),
        ("model.encoder=3", "group of settings"),
        ("augment", "key=value"),
        ("augment=maybe", "true or false"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(OverrideError, match=message):
        apply_overrides(CSPTrainConfig(), [override])


def test_round_trip_through_a_dict():
    cfg = apply_overrides(CSPTrainConfig(), ["model.encoder.num_steps=5", "minutes=2.5"])
    assert from_dict(CSPTrainConfig, dataclasses.asdict(cfg)) == cfg
    with pytest.raises(OverrideError, match="unknown keys"):
        from_dict(CSPTrainConfig, {**dataclasses.asdict(cfg), "extra": 1})
