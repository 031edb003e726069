"""The `TacticPolicy` seam between search and whatever proposes tactics, and the baselines
that need no model.

A policy maps a proof state to a list of `Candidate(tactic, logprob)`, best first. It may
also name `imports`: commands its tactics need (e.g. `From Coq Require Import Lia.`), which
the env places just before the theorem (never at the top of the file: that would change
the hints earlier proofs in the file see).

Baselines:
- `PortfolioPolicy`: closing automation tactics, each wrapped in `solve [...]` so it fails
  unless it closes the goal, then a few structural steps (`intros`, `simpl`, induction on
  the first `nat`/`list` variable, `split`) after which search tries the closers again.
- `HammerPolicy`: CoqHammer's `sauto` and `hammer` (Debian's libcoq-hammer, eprover, z3,
  cvc4), under the same per-tactic time limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from prover.envs.base import ProofState


@dataclass(frozen=True)
class Candidate:
    tactic: str
    logprob: float


class TacticPolicy(Protocol):
    name: str
    imports: tuple[str, ...]

    def propose(self, state: ProofState) -> list[Candidate]:
        """Candidate tactics for `state`, best first."""
        ...


CLOSERS = (
    "reflexivity",
    "assumption",
    "auto",
    "trivial",
    "discriminate",
    "congruence",
    "lia",
    "tauto",
    "intuition",
    "simpl; auto",
    "eauto",
    "firstorder",
)
# A variable of a data type: `nat`, `bool`, `list A`, `option (A * B)`, `positive`, ...
_VAR_RE = re.compile(r"^([\w', ]+) : ([A-Za-z_][\w.]*(?: [\w.]+| \(.+\))?)$", re.M)
_NOT_DATA = {"Prop", "Set", "Type"}


def _first_inductive_var(state: ProofState) -> str | None:
    """The first variable of the (first) goal whose type is data (nat, bool, list _, ...),
    not a proposition or a type: induction on it is the classic first step."""
    first_goal = state.text.split("\n\n")[0]
    hyps = first_goal.split("============================")[0]
    for m in _VAR_RE.finditer(hyps):
        head = m.group(2).split()[0]
        if head not in _NOT_DATA and head[0].islower() or head in ("N", "Z", "Q", "R"):
            return m.group(1).split(",")[0].strip()
    return None


def _goal_is_quantified(state: ProofState) -> bool:
    first_goal = state.text.split("\n\n")[0]
    concl = first_goal.split("============================")[-1].strip()
    return concl.startswith("forall") or "->" in concl or concl.startswith("~")


class PortfolioPolicy:
    """Fixed automation portfolio (see module docstring)."""

    name = "portfolio"
    imports: tuple[str, ...] = ("From Coq Require Import Lia.",)

    def __init__(self, closers: tuple[str, ...] = CLOSERS) -> None:
        self.closers = closers

    def propose(self, state: ProofState) -> list[Candidate]:
        out = [Candidate(f"solve [{t}].", -0.1 * (i + 1)) for i, t in enumerate(self.closers)]
        structural = []
        if _goal_is_quantified(state):
            structural.append("intros.")
        var = _first_inductive_var(state)
        if var is not None:
            structural.append(f"induction {var}.")
        structural += ["simpl.", "split."]
        out += [Candidate(t, -2.0 - 0.5 * i) for i, t in enumerate(structural)]
        return out


class HammerPolicy:
    """CoqHammer baseline: `sauto`, then `hammer` (ATPs + reconstruction)."""

    name = "hammer"

    def __init__(self, atp_limit_s: float = 10.0) -> None:
        limit = max(1, math.floor(atp_limit_s))
        self.imports = (
            "From Hammer Require Import Hammer Tactics.",
            f"Set Hammer ATPLimit {limit}.",
        )

    def propose(self, state: ProofState) -> list[Candidate]:
        return [Candidate("sauto.", -0.1), Candidate("hammer.", -0.2)]


POLICIES = {"portfolio": PortfolioPolicy, "hammer": HammerPolicy}
