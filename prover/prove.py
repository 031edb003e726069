"""Prove one theorem: open it, search with a policy, and re-check the proof from scratch.

A theorem counts as proved only when `env.verify` accepts the whole proof (whole-file
recheck, axioms audited). The policy's imports are tried last: the proof is verified first
without them, so a reported proof pastes between `Proof.` and `Qed.` of the original file
whenever it can; `imports` in the result says what else it needs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prover.envs.base import (
    BackendUnavailable,
    DependencyNotBuilt,
    EnvError,
    ImportRejected,
    ProofEnv,
    TheoremNotFound,
    VerifyResult,
)
from prover.policy import TacticPolicy
from prover.search import OutcomeHook, SearchConfig, best_first_search


@dataclass(frozen=True)
class ProveResult:
    theorem: str
    proved: bool
    proof: list[str]
    time_s: float
    axioms: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    status: str = ""  # proved | rejected | failed | budget | discarded
    reason: str = ""
    search: dict = field(default_factory=dict)
    imports_dropped: bool = False  # the policy's imports would load this very file
    steps: list[tuple[str, str]] = field(default_factory=list)  # (state, tactic) of the proof

    def to_json(self) -> dict:
        return asdict(self)


def prove_theorem(
    env: ProofEnv,
    policy: TacticPolicy,
    *,
    file: str | Path,
    theorem: str,
    config: SearchConfig,
    allowed_axioms: Sequence[str] = (),
    allow_original_axioms: bool = False,
    on_outcome: OutcomeHook | None = None,
) -> ProveResult:
    """Search and verify; `discarded` when the theorem cannot even be opened."""
    t0 = time.perf_counter()
    imports = policy.imports
    try:
        root = env.open(file=file, theorem=theorem, imports=imports)
    except (TheoremNotFound, BackendUnavailable, DependencyNotBuilt):
        raise
    except ImportRejected:
        # The import would load this very file's compiled copy (or is unusable here): search
        # without it; the tactics that need it then simply fail.
        imports = ()
        try:
            root = env.open(file=file, theorem=theorem)
        except (BackendUnavailable, DependencyNotBuilt):
            raise
        except EnvError as e:
            return ProveResult(
                theorem, False, [], time.perf_counter() - t0, status="discarded", reason=str(e)
            )
    except EnvError as e:
        return ProveResult(
            theorem, False, [], time.perf_counter() - t0, status="discarded", reason=str(e)
        )
    dropped = imports != policy.imports
    res = best_first_search(env, policy, root, config, on_outcome)
    stats = {
        "expansions": res.expansions,
        "tactic_calls": res.tactic_calls,
        "policy_s": round(res.policy_s, 3),
        "env_s": round(res.env_s, 3),
        "overhead_s": round(res.overhead_s, 3),
        "outcomes": res.counts,
    }
    if res.status != "proved":
        return ProveResult(
            theorem,
            False,
            [],
            time.perf_counter() - t0,
            status=res.status,
            search=stats,
            imports_dropped=dropped,
        )
    proof = list(res.proof)
    verdict, imports = _verify(env, file, theorem, proof, imports, allowed_axioms)
    if not verdict and allow_original_axioms and verdict.reason.startswith("uses axiom"):
        original = getattr(env, "original_axioms", lambda *_: None)(file, theorem)
        if original is not None and set(verdict.axioms) <= set(original):
            verdict, imports = _verify(
                env, file, theorem, proof, imports, [*allowed_axioms, *original]
            )
    elapsed = time.perf_counter() - t0
    if not verdict:
        return ProveResult(
            theorem,
            False,
            proof,
            elapsed,
            list(verdict.axioms),
            list(imports),
            "rejected",
            verdict.reason,
            stats,
            dropped,
            list(res.trajectory),
        )
    return ProveResult(
        theorem,
        True,
        proof,
        elapsed,
        list(verdict.axioms),
        list(imports),
        "proved",
        "",
        stats,
        dropped,
        list(res.trajectory),
    )


def _verify(
    env: ProofEnv,
    file: str | Path,
    theorem: str,
    proof: list[str],
    imports: Sequence[str],
    allowed: Sequence[str],
) -> tuple[VerifyResult, tuple[str, ...]]:
    kwargs = {"allowed_axioms": list(allowed)} if allowed else {}
    plain = env.verify(file=file, theorem=theorem, proof=proof, **kwargs)  # type: ignore[call-arg]
    if plain or not imports:
        return plain, ()
    with_imports = env.verify(file=file, theorem=theorem, proof=proof, imports=imports, **kwargs)  # type: ignore[call-arg]
    if with_imports:
        return with_imports, tuple(imports)
    # Report the reason that involves the policy's imports: it is the more specific one.
    return with_imports, tuple(imports)
