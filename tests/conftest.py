"""Shared fixtures: markers that skip with a reason, a live Coq env, small Coq files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Triton reads TRITON_INTERPRET when it is first imported, so set it before any test module
# imports kernels/: without a GPU the kernels run in Triton's (fp32-only) interpreter.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
