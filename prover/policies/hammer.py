"""The CoqHammer baseline: `sauto`, then `hammer` (ATPs + proof reconstruction; Debian's
libcoq-hammer with eprover, z3 and cvc4), under the same per-tactic time limit."""

from __future__ import annotations

import math

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy


class HammerPolicy(TacticPolicy):
    """`sauto.` then `hammer.`, with the ATPs' limit set just before the theorem."""

    name = "hammer"
    version = "hammer"

    def __init__(self, atp_limit_s: float = 10.0) -> None:
        limit = max(1, math.floor(atp_limit_s))
        self.imports = (
            "From Hammer Require Import Hammer Tactics.",
            f"Set Hammer ATPLimit {limit}.",
        )

    def propose(self, state: ProofState) -> list[Candidate]:
        return [Candidate("sauto.", -0.1), Candidate("hammer.", -0.2)]
