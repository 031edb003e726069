"""Shared fixtures: markers that skip with a reason, a live Coq env, small Coq files."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

# Triton reads TRITON_INTERPRET when it is first imported, so set it before any test module
# imports kernels/: without a GPU the kernels run in Triton's (fp32-only) interpreter.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def mark_as_trace(root: Path) -> None:
    """Give a hand-built folder of split files the manifest `prover.data.check_trace` wants."""
    from prover.envs.coq_trace import MANIFEST_FILE, TRACE_FORMAT_VERSION

    manifest = {"format_version": TRACE_FORMAT_VERSION, "backend": "coq"}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_lake = shutil.which("lake") is not None
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    for item in items:
        if "lean" in item.keywords and not has_lake:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs a Lean toolchain: `lake` is not on PATH (see README, Lean setup)"
                )
            )
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session")
def coq_installed() -> None:
    if shutil.which("coqidetop.opt") is None and shutil.which("coqidetop") is None:
        pytest.fail("Coq is not installed: `make setup` installs it (apt-get install -y coq)")


@pytest.fixture()
def coq_env(coq_installed: None):
    from prover.envs import get_env

    with get_env("coq", tactic_timeout=2.0) as env:
        yield env


USER_FILE = """\
Require Import Arith.

Lemma add_0_r' : forall n : nat, n + 0 = n.
Proof. intros. rewrite Nat.add_0_r. reflexivity. Qed.

Section S.
Variable A : Prop.
Lemma and_true : A -> A /\\ True.
Proof. auto. Qed.
End S.

Lemma add_comm' : forall a b : nat, a + b = b + a.
Proof. intros. apply Nat.add_comm. Qed.

Lemma later : forall a : nat, a * 1 = a.
Proof. intros. apply Nat.mul_1_r. Qed.
"""


@pytest.fixture()
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "User.v"
    path.write_text(USER_FILE)
    return path


# --- a tiny traced Coq file and a tiny model trained on it (shared by several test files) ---

LEMMAS = """\
Lemma t_true : True.
Proof. trivial. Qed.

Lemma t_two : 1 + 1 = 2.
Proof. reflexivity. Qed.

Lemma t_and : True /\\ True.
Proof. split. trivial. trivial. Qed.

Lemma t_imp : forall P : Prop, P -> P.
Proof. intros P H. exact H. Qed.

Lemma v_four : 2 + 2 = 4.
Proof. reflexivity. Qed.

Lemma v_true : True.
Proof. trivial. Qed.
"""


def fast_train_config():  # noqa: ANN201 (a prover.train.TacticTrainConfig)
    """The tiny preset, small enough to train in seconds on the CPU (same code path)."""
    from prover.train import preset

    tiny = preset("tiny")
    return dataclasses.replace(
        tiny,
        batch_size=8,
        vocab_size=300,
        optim=dataclasses.replace(tiny.optim, warmup_steps=5, lr=3e-3),
        checkpoint_every=1000,
    )


@pytest.fixture(scope="session")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trace")
    src = root / "Lemmas.v"
    src.write_text(LEMMAS)
    from prover.envs.coq_trace import trace_file

    ft = trace_file(src)
    assert not ft.error, ft.error
    records = {r["theorem"]: r for r in ft.theorems}
    assert len(records) == 6 and all(r["traced_tactics"] for r in records.values())
    split = root / "novel_files"
    split.mkdir()
    (split / "train.json").write_text(json.dumps(list(records.values())))
    (split / "val.json").write_text(json.dumps([records["v_four"], records["v_true"]]))
    mark_as_trace(root)
    return root


@pytest.fixture(scope="session")
def trained(trace_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "run"
    from prover.train import train

    cfg = dataclasses.replace(fast_train_config(), data=str(trace_dir), max_steps=120)
    return out, train(cfg, out)
