"""The CoqHammer baseline: `sauto` under the env's per-tactic limit, then `hammer` (ATPs +
proof reconstruction; Debian's libcoq-hammer with eprover, z3 and cvc4) under its own limit.

`hammer.` gets `hammer_timeout_s` per call (not the env's per-tactic limit: CoqHammer needs
seconds to extract features, run the provers and reconstruct), and the provers get half of it
(`atp_limit_s`). When CoqHammer prints a reconstruction tactic ("Replace the hammer tactic
with: ..."), the Coq env records that tactic in the proof instead of `hammer.` if it reaches
the same goals, so the proof re-checks without the external provers; `hammer.` stays only when
no usable reconstruction was printed (the result then lists `hammer.` in its proof).
"""

from __future__ import annotations

import math
from typing import Any

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy

HAMMER_IMPORT = "From Hammer Require Import Hammer Tactics."


def atp_limit_s(hammer_timeout_s: float) -> int:
    """The provers' limit inside a `hammer.` call of `hammer_timeout_s`: half of it (the rest
    is feature extraction and reconstruction), at least 1 s."""
    return max(1, math.floor(hammer_timeout_s / 2))


def hammer_imports(atp_limit: int) -> tuple[str, ...]:
    """What a proof state needs for `sauto`/`hammer` with the provers limited to `atp_limit`."""
    return (HAMMER_IMPORT, f"Set Hammer ATPLimit {atp_limit}.")


def default_hammer_timeout(theorem_timeout_s: float) -> float:
    """A `hammer.` call's limit by default: 20 s (CoqHammer's own ATP default is 20 s; we
    give the provers 10), at most two thirds of the theorem's search budget, at least 1 s."""
    return max(1.0, min(20.0, round(theorem_timeout_s * 2 / 3, 1)))


class HammerPolicy(TacticPolicy):
    """`sauto.` then `hammer.` (see module docstring)."""

    name = "hammer"
    version = "hammer"

    def __init__(self, hammer_timeout_s: float = 20.0) -> None:
        if not hammer_timeout_s > 0:
            raise ValueError(f"hammer_timeout_s must be positive, got {hammer_timeout_s}")
        self.hammer_timeout_s = hammer_timeout_s
        self.imports = hammer_imports(atp_limit_s(hammer_timeout_s))

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "hammer": {
                "timeout_s": self.hammer_timeout_s,
                "atp_limit_s": atp_limit_s(self.hammer_timeout_s),
            }
        }

    def propose(self, state: ProofState) -> list[Candidate]:
        return [
            Candidate("sauto.", -0.1, "hammer"),
            Candidate("hammer.", -0.2, "hammer", timeout_s=self.hammer_timeout_s),
        ]
