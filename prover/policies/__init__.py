"""Tactic policies and their registry.

    from prover.policies import get_policy
    policy = get_policy("model", backend="coq", model="runs/t0", num_candidates=8)

| name | backends | options |
|---|---|---|
| `portfolio` | coq, lean, leandojo | `arith` (Coq: arithmetic procedures, combined closers) |
| `hammer` | coq | `hammer_timeout` (seconds per `hammer.` call; the ATPs get half) |
| `model` | coq, lean, leandojo | `model` (required), `num_candidates`, `decoding` |
| `knn` | coq | `trace`, `split` (the training split indexed), `extra_steps` (replay proofs), |
| | | `exclude` (full names of theorems whose steps are left out), `offline` |
| `hybrid` | coq | the knn options, `source_rows`, `model`, `num_candidates`, `decoding`, |
| | | `library`, `hammer_timeout` (0: no CoqHammer), `arith` (its closers' `arith`) |

`source_rows` are a replay store's outcomes (`ReplayStore.source_outcomes`) from which the
hybrid learns each source's success rate; `extra_steps` its verified proofs' steps, indexed
after the trace's.

Options given as None count as not given. Anything else a policy does not take is a
`PolicyError` naming the policy that does take it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prover.policies.base import Candidate, PolicyError, TacticPolicy

if TYPE_CHECKING:
    from prover.policies.knn import KnnPolicy

DEFAULT_TRACE = "datasets/coq_trace"  # the trace whose training split a knn index holds
HYBRID_KNN_CANDIDATES = 16  # retrieved tactics per state inside the hybrid (as measured)


@dataclass(frozen=True)
class PolicySpec:
    backends: tuple[str, ...]
    options: tuple[str, ...]  # keyword options it takes besides backend and tactic_timeout
    make: Callable[..., TacticPolicy]  # (backend, tactic_timeout, **options)
    required: tuple[str, ...] = ()


def _portfolio(backend: str, tactic_timeout: float, *, arith: bool = False) -> TacticPolicy:
    if backend == "coq":
        from prover.policies.portfolio import PortfolioPolicy

        return PortfolioPolicy(arith=arith)
    if arith:
        raise PolicyError("--arith is for Coq (Lean's portfolio has its own arithmetic)")
    from prover.policies.lean_portfolio import LeanPortfolioPolicy

    return LeanPortfolioPolicy()


def _hammer(backend: str, tactic_timeout: float, *, hammer_timeout: float = 20.0) -> TacticPolicy:
    from prover.policies.hammer import HammerPolicy

    return HammerPolicy(hammer_timeout_s=hammer_timeout)


def _knn_index(trace: str, split: str, extra_steps: Sequence[Any], exclude: Collection[str]) -> Any:
    from prover.policies.knn import load_index

    return load_index(Path(trace), split, extra_steps, exclude)


def _knn(
    backend: str,
    tactic_timeout: float,
    *,
    trace: str = DEFAULT_TRACE,
    split: str = "novel_files/train",
    extra_steps: Sequence[Any] = (),
    exclude: Collection[str] = (),
    offline: bool = False,
    candidates: int | None = None,
) -> KnnPolicy:
    from prover.policies.knn import CANDIDATES, KnnPolicy

    index = _knn_index(trace, split, extra_steps, exclude)
    return KnnPolicy(index, num_candidates=candidates or CANDIDATES, online=not offline)


def _hybrid(
    backend: str,
    tactic_timeout: float,
    *,
    source_rows: Sequence[tuple[str, str, bool]] = (),
    model: str | None = None,
    num_candidates: int = 8,
    decoding: str = "beam",
    library: str | None = None,
    hammer_timeout: float = 20.0,
    arith: bool = False,
    **knn: Any,  # the knn options: trace, split, extra_steps, exclude, offline
) -> TacticPolicy:
    from prover.policies.hybrid import HybridPolicy, SourceStats
    from prover.policies.portfolio import PortfolioPolicy

    generator = None
    if model is not None:
        from prover.policies.model import ModelPolicy

        generator = ModelPolicy(model, num_candidates=num_candidates, decoding=decoding)
    programs = None
    if library is not None:
        from prover.policies.library import LibraryPolicy

        programs = LibraryPolicy(_Nothing(), Path(library))
    return HybridPolicy(
        closers=PortfolioPolicy(arith=arith),
        knn=_knn(backend, tactic_timeout, candidates=HYBRID_KNN_CANDIDATES, **knn),
        model=generator,
        library=programs,
        stats=SourceStats.from_outcomes(source_rows),
        hammer_timeout_s=hammer_timeout or None,
    )


class _Nothing(TacticPolicy):
    """No candidates (the base under a hybrid's library source)."""

    name = version = "nothing"
    imports: tuple[str, ...] = ()

    def propose(self, state: Any) -> list[Candidate]:
        return []


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
    "portfolio": PolicySpec(("coq", *LEAN), ("arith",), _portfolio),
    "hammer": PolicySpec(("coq",), ("hammer_timeout",), _hammer),
    "model": PolicySpec(
        ("coq", *LEAN), ("model", "num_candidates", "decoding"), _model, required=("model",)
    ),
    "knn": PolicySpec(("coq",), ("trace", "split", "extra_steps", "exclude", "offline"), _knn),
    "hybrid": PolicySpec(
        ("coq",),
        (
            "trace",
            "split",
            "extra_steps",
            "exclude",
            "offline",
            "source_rows",
            "model",
            "num_candidates",
            "decoding",
            "library",
            "hammer_timeout",
            "arith",
        ),
        _hybrid,
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
