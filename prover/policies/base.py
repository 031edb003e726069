"""The `TacticPolicy` seam between search and whatever proposes tactics.

A policy maps a proof state to a list of `Candidate(tactic, logprob)`, best first. It may
also name `imports`: commands its tactics need (e.g. `From Coq Require Import Lia.`), which
the env places just before the theorem (never at the top of the file: that would change the
hints earlier proofs in the file see). `version` tags what it records in the replay store (a
model's weights hash; a baseline's name). A candidate names its `source` (which part of a
hybrid policy proposed it) and may carry its own time limit.

Policies subclass `TacticPolicy` to inherit `propose_batch`, which search always calls: the
default asks `propose` state by state; a model policy overrides it to run one batched
`generate` for all the states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from prover.envs.base import ProofState

DECODINGS = ("beam", "sample")  # how a model policy draws its candidates


@dataclass(frozen=True)
class Candidate:
    tactic: str
    logprob: float
    source: str = ""  # what proposed it (hybrid: closer, knn, model, library, hammer)
    timeout_s: float | None = None  # its own per-tactic limit (an expensive call), else the env's


def tactic_key(tactic: str) -> str:
    """What makes two tactics the same candidate: whitespace runs collapsed to one space, the
    ends stripped, and one trailing period dropped."""
    text = " ".join(tactic.split())
    return text[:-1].rstrip() if text.endswith(".") else text


class TacticPolicy(Protocol):
    name: str
    version: str
    imports: tuple[str, ...]

    def propose(self, state: ProofState) -> list[Candidate]:
        """Candidate tactics for `state`, best first."""
        ...

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        """`propose` for each state, in order (override to batch the work)."""
        return [self.propose(s) for s in states]

    def begin(self, root: ProofState) -> None:
        """A search for `root` starts (search calls it first). Default: nothing."""
        return None

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        """The (state text, tactic) steps of a proof just verified in this run (the episode
        driver calls it only after `env.verify` accepted the proof); an online policy adds
        them to what it knows. Default: nothing."""
        return None

    def to_device(self, device: str) -> bool:
        """Move the model the policy runs, if any, to `device` ("cpu", "cuda"); whether it has
        one (the Ray pool ships policies on the CPU and gives workers GPUs only for models).
        Default: no model."""
        return False


class PolicyError(ValueError):
    """A policy cannot be built from these options (unknown name, option or backend)."""
