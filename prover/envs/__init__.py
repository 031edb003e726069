"""Proof environments: one protocol (`base.ProofEnv`), several real backends.

    from prover.envs import get_env, Progress, Proved, Failed, TimedOut
    with get_env("coq", tactic_timeout=5.0) as env:
        s0 = env.open(file="File.v", theorem="my_lemma")
        out = env.step(s0, "intros n.")
        ok = env.verify(file="File.v", theorem="my_lemma", proof=["intros n.", "..."])

Backends: "coq" (coqidetop), "lean" (the Lean REPL, `lake exe repl`), "leandojo"
(`lean_dojo.Dojo`). Nothing outside this package knows which assistant it talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prover.envs.base import (
    BackendUnavailable,
    DependencyNotBuilt,
    EnvError,
    Failed,
    ImportRejected,
    Progress,
    ProofEnv,
    ProofState,
    Proved,
    StepResult,
    TheoremInfo,
    TheoremNotFound,
    TimedOut,
    VerifyResult,
)


def _coq(**kwargs: object) -> ProofEnv:
    from prover.envs.coq import make_coq_env

    return make_coq_env(**kwargs)


def _lean(**kwargs: object) -> ProofEnv:
    from prover.envs.lean_repl import make_lean_env

    return make_lean_env(**kwargs)


def _leandojo(**kwargs: object) -> ProofEnv:
    from prover.envs.leandojo import make_leandojo_env

    return make_leandojo_env(**kwargs)


BACKENDS: dict[str, Callable[..., ProofEnv]] = {"coq": _coq, "lean": _lean, "leandojo": _leandojo}


def format_proof(backend: str, tactics: Sequence[str]) -> str:
    """`ProofEnv.format_proof` of `backend` without starting an env (a driver whose envs live
    in its workers)."""
    if backend == "coq":
        from prover.envs.coq import format_coq_proof

        return format_coq_proof(tactics)
    if backend in BACKENDS:
        from prover.envs.lean_source import format_lean_proof

        return format_lean_proof(tactics)
    raise EnvError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def get_env(backend: str, **kwargs: object) -> ProofEnv:
    """A live env for `backend` ("coq", "lean", "leandojo"); options go to its config."""
    if backend not in BACKENDS:
        raise EnvError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](**kwargs)


__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "DependencyNotBuilt",
    "EnvError",
    "Failed",
    "ImportRejected",
    "ProofEnv",
    "ProofState",
    "Progress",
    "Proved",
    "StepResult",
    "TheoremInfo",
    "TheoremNotFound",
    "TimedOut",
    "VerifyResult",
    "format_proof",
    "get_env",
]
