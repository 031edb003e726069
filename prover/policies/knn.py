"""Retrieval as a policy (`knn`): the tactics of the nearest indexed states (`index.py`).

    policy = KnnPolicy(load_index(Path("datasets/coq_trace")), online=True)

The index holds the (state, tactic) steps of a trace's training split (human proofs of
training files only) and, when given, the verified proofs of a replay store. With `online`,
each proof verified during the run (`learn`, called by the episode driver only after
`env.verify` accepted it) is indexed at once, so the next theorem can use it — Tactician's
setting: a held-out file's lemmas that we proved are fair game, its human proofs never are.

A candidate's log-probability is log(similarity) of the state it came from (0 for an
identical state), floored at log(1e-3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from prover.data import TacticStep, load_steps
from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy
from prover.policies.index import StateIndex

TRAIN_SPLIT = "novel_files/train"  # the index's source: never a held-out file's proofs
# Tactics per state. On the first 30 novel_files/val theorems (30 s each) 64 proved 5, 16
# proved 3: with 16 the search stops after a few seconds, its tree exhausted.
CANDIDATES = 64
MIN_SIMILARITY = 1e-3


def load_index(
    trace: Path,
    split: str = TRAIN_SPLIT,
    extra: Iterable[TacticStep] = (),
    exclude: Collection[str] = (),
) -> StateIndex:
    """An index over the steps of `trace`'s training `split`, then `extra` (replay steps),
    leaving out the steps of the theorems named in `exclude` (full names: the theorems a
    run is about to search, whose own human proofs must not be retrieved)."""
    if not split.endswith("/train"):
        raise ValueError(f"the index is built from a training split, not {split!r}")
    left_out = set(exclude)
    steps = [s for s in load_steps(trace, split) if s.theorem not in left_out]
    return StateIndex.build(
        [(s.state_before, s.tactic) for s in steps] + [(s.state_before, s.tactic) for s in extra]
    )


class KnnPolicy(TacticPolicy):
    """Tactics of the nearest indexed states (see module docstring)."""

    name = "knn"

    def __init__(
        self,
        index: StateIndex,
        *,
        num_candidates: int = CANDIDATES,
        online: bool = True,
        imports: tuple[str, ...] = ("From Coq Require Import Lia.",),
    ) -> None:
        self.index = index
        self.num_candidates = num_candidates
        self.online = online
        self.imports = imports
        # not the index's size: it grows with a run's own proofs (online, and a resumed run's
        # replay store), and a resumed eval is checked to run the same policy version
        self.version = f"knn{'+online' if online else ''}"
        self.learned = 0  # steps indexed during the run
        self.query_s = 0.0

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        t0 = time.perf_counter()
        hits = self.index.query_batch([s.text for s in states], k=self.num_candidates)
        self.query_s += time.perf_counter() - t0
        return [
            [Candidate(h.tactic, math.log(max(h.score, MIN_SIMILARITY)), source="knn") for h in row]
            for row in hits
        ]

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        if self.online:
            self.learned += self.index.add(steps)
