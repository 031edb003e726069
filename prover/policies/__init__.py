"""Tactic policies and their registry.

    from prover.policies import get_policy
    policy = get_policy("model", backend="coq", model="runs/t0", num_candidates=8)

| name | backends | options |
|---|---|---|
| `portfolio` | coq, lean, leandojo | (the backend picks Coq's or Lean's portfolio) |
| `hammer` | coq | (ATP limit from `tactic_timeout`) |
| `model` | coq, lean, leandojo | `model` (required), `num_candidates`, `decoding` |

Options given as None count as not given. Anything else a policy does not take is a
`PolicyError` naming the policy that does take it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prover.policies.base import Candidate, PolicyError, TacticPolicy


@dataclass(frozen=True)
class PolicySpec:
    backends: tuple[str, ...]
    options: tuple[str, ...]  # keyword options it takes besides backend and tactic_timeout
    make: Callable[..., TacticPolicy]  # (backend, tactic_timeout, **options)
    required: tuple[str, ...] = ()


def _portfolio(backend: str, tactic_timeout: float) -> TacticPolicy:
    if backend == "coq":
        from prover.policies.portfolio import PortfolioPolicy

        return PortfolioPolicy()
    from prover.policies.lean_portfolio import LeanPortfolioPolicy

    return LeanPortfolioPolicy()


def _hammer(backend: str, tactic_timeout: float) -> TacticPolicy:
    from prover.policies.hammer import HammerPolicy

    return HammerPolicy(atp_limit_s=max(1.0, 0.6 * tactic_timeout))


def _model(
    backend: str,
    tactic_timeout: float,
    *,
    model: str,
    num_candidates: int = 8,
    decoding: str = "beam",
) -> TacticPolicy:
    from prover.policies.model import ModelPolicy

    return ModelPolicy(model, num_candidates=num_candidates, decoding=decoding)


LEAN = ("lean", "leandojo")
REGISTRY: dict[str, PolicySpec] = {
    "portfolio": PolicySpec(("coq", *LEAN), (), _portfolio),
    "hammer": PolicySpec(("coq",), (), _hammer),
    "model": PolicySpec(
        ("coq", *LEAN), ("model", "num_candidates", "decoding"), _model, required=("model",)
    ),
}


def get_policy(
    name: str, *, backend: str = "coq", tactic_timeout: float = 5.0, **options: object
) -> TacticPolicy:
    """The policy `name` for `backend`, built from `options` (see the module docstring)."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise PolicyError(f"unknown policy {name!r}: choose one of {', '.join(REGISTRY)}")
    if backend not in spec.backends:
        raise PolicyError(
            f"the {name} policy works with --backend {' or '.join(spec.backends)}, not {backend}"
        )
    given = {k: v for k, v in options.items() if v is not None}
    for option in given:
        if option not in spec.options:
            users = [n for n, s in REGISTRY.items() if option in s.options]
            where = f"only used with --policy {' or '.join(users)}" if users else "not an option"
            raise PolicyError(f"--{option.replace('_', '-')} is {where} (got --policy {name})")
    for option in spec.required:
        if option not in given:
            raise PolicyError(
                f"--policy {name} needs --{option.replace('_', '-')}"
                + (" DIR (a `springtail train` output)" if option == "model" else "")
            )
    return spec.make(backend, tactic_timeout, **given)


__all__ = ["REGISTRY", "Candidate", "PolicyError", "PolicySpec", "TacticPolicy", "get_policy"]
