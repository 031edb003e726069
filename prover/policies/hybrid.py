"""One policy from every source (`hybrid`): closers, retrieval, generation, library programs
and CoqHammer, merged into one ranked list with calibrated scores.

For a state of kind K (its conclusion's head symbol, `state_kind`), each source S proposes
its candidates with a within-source share q (they sum to 1 per source: closers by rank,
retrieval by similarity, generation by the model's probability, library calls uniformly);
a candidate's log-probability is

    log P(S succeeds at K) + log q

where P is learned from the replay store's outcomes (`SourceStats`: a source's candidate
succeeded when its step lies on a verified proof), shrunk towards the source's rate over all
kinds and, with no data, towards a fixed prior (`PRIORS`). With a model, every non-generated
candidate is also scored by the model's log-likelihood in one batched teacher-forced pass
(`ModelPolicy.score_batch`), and q becomes the mean of the source's own share and the
model's share among that source's candidates. A tactic proposed by several sources keeps its
best score and that source's name.

CoqHammer is the expensive, time-capped last resort at the root of each search (`begin`
names it): after every other root candidate, `sauto.` under the env's per-tactic limit, then
`hammer.` with its own limit (`hammer_timeout_s`, the ATPs get half; never past the search's
budget). A proof found by `hammer.` records CoqHammer's reconstruction tactic when it printed one
that reaches the same goals (the env does this), so it re-checks without the provers.

Each step of a found proof carries its source (`EpisodeResult.sources`); outcomes in the
replay store carry it too, which is what the next `SourceStats` learns from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy
from prover.policies.hammer import atp_limit_s, hammer_imports
from prover.policies.index import head_symbol
from prover.policies.knn import KnnPolicy

SOURCES = ("closer", "knn", "model", "library", "hammer")
# (successes, trials) a source starts with before any outcome is seen: a weak prior that
# tries cheap closers and retrieval before generation and library calls
PRIORS: dict[str, tuple[float, float]] = {
    "closer": (1.0, 10.0),
    "knn": (1.0, 10.0),
    "model": (1.0, 20.0),
    "library": (1.0, 20.0),
    "hammer": (1.0, 4.0),
}
SHRINK = 20.0  # pseudo-trials pulling a (source, kind) rate towards the source's overall rate
_KINDS = {
    "forall": "forall",
    "->": "implies",
    "exists": "exists",
    "=": "eq",
    "<>": "neq",
    "<->": "iff",
    "/\\": "and",
    "\\/": "or",
    "~": "not",
    "<=": "order",
    "<": "order",
    "True": "true",
    "False": "false",
}


def state_kind(state: str) -> str:
    """The kind of a state for calibration: its conclusion's head (`head_symbol`) as one of a
    few classes (`eq`, `forall`, `and`, ...), `other` for any other head."""
    return _KINDS.get(head_symbol(state), "other")


@dataclass
class SourceStats:
    """Success counts per (source, state kind) and the calibrated rate (module docstring)."""

    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # src -> kind -> [s, n]

    @classmethod
    def from_outcomes(cls, rows: Iterable[tuple[str, str, bool]]) -> SourceStats:
        """From (source, state text, succeeded) rows (`ReplayStore.source_outcomes`)."""
        stats = cls()
        for source, state, ok in rows:
            cell = stats.counts.setdefault(source, {}).setdefault(state_kind(state), [0, 0])
            cell[0] += int(ok)
            cell[1] += 1
        return stats

    def rate(self, source: str, kind: str) -> float:
        a, b = PRIORS.get(source, (1.0, 20.0))
        per_kind = self.counts.get(source, {})
        s_all = sum(c[0] for c in per_kind.values())
        n_all = sum(c[1] for c in per_kind.values())
        overall = (s_all + a) / (n_all + b)
        s, n = per_kind.get(kind, (0, 0))
        return (s + SHRINK * overall) / (n + SHRINK)

    def to_json(self) -> dict[str, Any]:
        return {
            src: {k: {"succeeded": c[0], "tried": c[1]} for k, c in sorted(kinds.items())}
            for src, kinds in sorted(self.counts.items())
        }


def _shares(scores: Sequence[float]) -> list[float]:
    """Softmax of log-scores: each candidate's share of its source."""
    if not scores:
        return []
    top = max(scores)
    w = [math.exp(s - top) for s in scores]
    total = sum(w)
    return [x / total for x in w]


class HybridPolicy(TacticPolicy):
    """Candidates of every source, calibrated and merged (see module docstring)."""

    name = "hybrid"

    def __init__(
        self,
        *,
        closers: TacticPolicy,
        knn: KnnPolicy | None = None,
        model: Any = None,  # a ModelPolicy (generation and the ranker), or None
        library: TacticPolicy | None = None,  # a LibraryPolicy over an empty base, or None
        stats: SourceStats | None = None,
        hammer_timeout_s: float | None = 10.0,
        extra_imports: tuple[str, ...] = (),
    ) -> None:
        self.closers, self.knn, self.model, self.library = closers, knn, model, library
        self.stats = stats or SourceStats()
        if hammer_timeout_s is not None and not 0 < hammer_timeout_s < math.inf:
            raise ValueError(f"hammer_timeout_s must be positive seconds, got {hammer_timeout_s}")
        self.hammer_timeout_s = hammer_timeout_s
        self._root = ""  # the text of the state the current search started from
        imports = [*closers.imports, *(knn.imports if knn else ())]
        if library is not None:
            imports += library.imports
        if hammer_timeout_s is not None:
            imports += hammer_imports(atp_limit_s(hammer_timeout_s))
        self.imports = tuple(dict.fromkeys([*imports, *extra_imports]))
        # the closers' arithmetic: "" / "+arith" / "+arith2" (portfolio+arith2[...])
        _, plus, arith = closers.version.split("[")[0].partition("+")
        parts = [
            "closer" + plus + arith,
            *(["knn" + ("+online" if knn.online else "")] if knn else []),
            *([f"model:{model.version}"] if model is not None else []),
            *(["library"] if library is not None else []),
            *([f"hammer:{hammer_timeout_s:g}s"] if hammer_timeout_s is not None else []),
        ]
        self.version = "hybrid[" + ",".join(parts) + "]"
        self.rank_s = 0.0  # time in the model's ranking pass

    @property
    def settings(self) -> dict[str, Any]:
        """What this policy was given, for result JSON."""
        out: dict[str, Any] = {"sources": self.version, "source_stats": self.stats.to_json()}
        if self.hammer_timeout_s is not None:
            out["hammer"] = {
                "timeout_s": self.hammer_timeout_s,
                "atp_limit_s": atp_limit_s(self.hammer_timeout_s),
            }
        return out

    def begin(self, root: ProofState) -> None:
        self._root = root.text
        for part in (self.closers, self.knn, self.model, self.library):
            if part is not None:
                part.begin(root)

    def to_device(self, device: str) -> bool:
        return self.model is not None and self.model.to_device(device)

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        if self.knn is not None:
            self.knn.learn(steps)

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        # per state, per source: (tactic, the source's own log-score) best first
        per_source: list[dict[str, list[tuple[str, float]]]] = [{} for _ in states]

        def put(source: str, rows: list[list[Candidate]]) -> None:
            for i, row in enumerate(rows):
                seen: dict[str, float] = {}
                for c in row:
                    seen.setdefault(c.tactic, c.logprob)
                per_source[i][source] = list(seen.items())

        put("closer", self.closers.propose_batch(states))
        if self.knn is not None:
            put("knn", self.knn.propose_batch(states))
        if self.library is not None:
            put("library", self.library.propose_batch(states))
        if self.model is not None:
            put("model", self.model.propose_batch(states))
        ranked = self._ranked(states, per_source)
        out = []
        for state, sources in zip(states, per_source, strict=True):
            kind = state_kind(state.text)
            best: dict[str, Candidate] = {}
            for source, rows in sources.items():
                own = _shares([lp for _, lp in rows])
                model = ranked.get((id(state), source))
                shares = (
                    own
                    if model is None
                    else [0.5 * a + 0.5 * b for a, b in zip(own, _shares(model), strict=True)]
                )
                log_rate = math.log(self.stats.rate(source, kind))
                for (tactic, _), q in zip(rows, shares, strict=True):
                    lp = min(0.0, log_rate + math.log(max(q, 1e-9)))
                    if tactic not in best or lp > best[tactic].logprob:
                        best[tactic] = Candidate(tactic, lp, source)
            merged = sorted(best.values(), key=lambda c: -c.logprob)
            if self.hammer_timeout_s is not None and state.text == self._root:
                floor = min((c.logprob for c in merged), default=0.0)
                rate = math.log(self.stats.rate("hammer", kind))
                merged += [
                    Candidate("sauto.", min(floor, rate) - 0.1, "hammer"),
                    Candidate(
                        "hammer.", min(floor, rate) - 0.2, "hammer", timeout_s=self.hammer_timeout_s
                    ),
                ]
            out.append(merged)
        return out

    def _ranked(
        self, states: Sequence[ProofState], per_source: list[dict[str, list[tuple[str, float]]]]
    ) -> dict[tuple[int, str], list[float]]:
        """The model's log-likelihood of every non-generated candidate, one batched pass."""
        if self.model is None:
            return {}
        t0 = time.perf_counter()
        keys = [(i, src) for i, srcs in enumerate(per_source) for src in srcs if src != "model"]
        cands = [
            [t for i2, src in keys if i2 == i for t, _ in per_source[i][src]]
            for i in range(len(states))
        ]
        scores = self.model.score_batch(states, cands)
        out: dict[tuple[int, str], list[float]] = {}
        for i, row in enumerate(scores):
            k = 0
            for i2, src in keys:
                if i2 != i:
                    continue
                n = len(per_source[i][src])
                out[(id(states[i]), src)] = list(row[k : k + n])
                k += n
        self.rank_s += time.perf_counter() - t0
        return out
