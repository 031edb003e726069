"""The portfolio baseline for Lean 4 + Mathlib: closing automation (`norm_num`, `linarith`,
`omega`, `aesop`, ...), then `intro`/`constructor` after which search tries them again. A
closer that only simplifies leaves a new state, which search keeps."""

from __future__ import annotations

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy

LEAN_CLOSERS = (
    "rfl",
    "norm_num",
    "simp",
    "decide",
    "omega",
    "linarith",
    "nlinarith",
    "positivity",
    "ring_nf",
    "field_simp",
    "simp_all",
    "aesop",
)


class LeanPortfolioPolicy(TacticPolicy):
    """Fixed Lean automation portfolio (see module docstring)."""

    name = "portfolio"
    version = "portfolio"
    imports: tuple[str, ...] = ()

    def __init__(self, closers: tuple[str, ...] = LEAN_CLOSERS) -> None:
        self.closers = closers

    def propose(self, state: ProofState) -> list[Candidate]:
        out = [Candidate(t, -0.1 * (i + 1), "closer") for i, t in enumerate(self.closers)]
        structural = []
        concl = state.text.split("⊢")[-1].strip()
        if concl.startswith("∀") or "→" in concl or concl.startswith("¬"):
            structural.append("intro h")
        structural += ["constructor", "norm_num at *"]
        out += [Candidate(t, -2.0 - 0.5 * i, "closer") for i, t in enumerate(structural)]
        return out
