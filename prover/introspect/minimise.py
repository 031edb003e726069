"""Counterfactual introspection ("why did this work?"): minimise verified proofs.

    result = minimise(env, proof)      # proof: a corpus `Proof` (its steps verified before)

For one proof, on Coq's own interactive engine:
1. **runs -> one closer**: at each step i (first to last), the closer tactics (`CLOSERS`:
   the portfolio's automation and a few two-tactic closing combinations) are run in turn on
   the state before step i; the first that lands on the state a later step j lands on (same
   goal text and goal count; "no goals" for the end) replaces steps i..j-1, for the latest
   such j, when the whole script still proves the goal;
2. **drops**: each remaining step is dropped in turn, kept out when the rest still ends in
   "no goals";
repeated until nothing changes or `max_steps` tactic runs or `max_seconds` are spent (the
shortest script confirmed so far stands). Whatever the search
found, the shorter proof counts only when `env.verify` re-checks it as a whole file, with
the axioms the theorem's own proof uses (and no others); otherwise the original stands.

Each result says which original steps were needed (kept as written), which runs a closer
replaced, and the minimised proof with the state before each of its steps (so it can join
the corpus and the replay store like any verified proof).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.envs import EnvError, ProofEnv
from prover.envs.base import Progress, ProofState, Proved
from prover.introspect.corpus import Corpus, Proof
from prover.replay import ReplayStore

# Cheap and common first: the first closer that replaces a run is the one kept.
CLOSERS = (
    "reflexivity.",
    "assumption.",
    "trivial.",
    "discriminate.",
    "easy.",
    "auto.",
    "congruence.",
    "tauto.",
    "simpl; auto.",
    "intros; auto.",
    "split; auto.",
    "intuition.",
    "lia.",
    "eauto.",
    "firstorder.",
)

_DONE = "no goals"
MINIMISED_VERSION = "minimised"  # the replay store's model_version of a minimised proof


@dataclass
class Minimised:
    """What minimisation made of one proof."""

    theorem: str
    file: str
    before: tuple[str, ...]
    after: tuple[str, ...]  # == before when nothing shorter was verified
    needed: tuple[bool, ...]  # per original step: kept as written in `after`
    replaced: list[dict[str, Any]] = field(default_factory=list)  # {"closer", "steps": [i, j)}
    states: tuple[str, ...] = ()  # the goal text before each step of `after`
    axioms: tuple[str, ...] = ()
    steps_run: int = 0
    verdict: str = "unchanged"  # "shortened" | "unchanged" | "not verified: ..." | "error: ..."
    time_s: float = 0.0

    @property
    def shortened(self) -> bool:
        return self.verdict == "shortened"

    def record(self) -> dict[str, Any]:
        return {
            "theorem": self.theorem,
            "file": self.file,
            "verdict": self.verdict,
            "before": list(self.before),
            "after": list(self.after),
            "needed": list(self.needed),
            "replaced": self.replaced,
            "steps_run": self.steps_run,
            "time_s": round(self.time_s, 2),
        }


class _Budget(Exception):
    pass


class _Replayer:
    """Runs scripts from the theorem's opened state, sharing every prefix already run."""

    def __init__(self, env: ProofEnv, root: ProofState, max_steps: int, deadline: float) -> None:
        self.env, self.max_steps, self.deadline, self.steps_run = env, max_steps, deadline, 0
        self.cache: dict[tuple[str, ...], ProofState | str | None] = {(): root}

    def state(self, script: Sequence[str]) -> ProofState | str | None:
        """The state after `script` (`_DONE` when it proves the goal, None when it fails or
        a step after "no goals" is left over)."""
        key = tuple(script)
        if key in self.cache:
            return self.cache[key]
        before = self.state(key[:-1])
        result: ProofState | str | None = None
        if isinstance(before, ProofState):
            if self.steps_run >= self.max_steps or time.perf_counter() > self.deadline:
                raise _Budget
            self.steps_run += 1
            step = self.env.step(before, key[-1])
            result = (
                step.state
                if isinstance(step, Progress)
                else _DONE
                if isinstance(step, Proved)
                else None
            )
        self.cache[key] = result
        return result

    def proves(self, script: Sequence[str]) -> bool:
        return self.state(script) == _DONE


def _same(a: ProofState | str | None, b: ProofState | str | None) -> bool:
    if isinstance(a, ProofState) and isinstance(b, ProofState):
        return a.text == b.text and a.num_goals == b.num_goals
    return a == b == _DONE


def minimise(
    env: ProofEnv,
    proof: Proof,
    *,
    closers: Sequence[str] = CLOSERS,
    max_steps: int = 400,
    max_seconds: float = 60.0,
) -> Minimised:
    """Minimise `proof` (see the module docstring); never raises for a proof Coq refuses."""
    t0 = time.perf_counter()
    original = tuple(proof.sentences)
    result = Minimised(proof.theorem, str(proof.file), original, original, (True,) * len(original))
    try:
        root = env.open(file=proof.file, theorem=proof.theorem)
    except EnvError as e:
        result.verdict = f"error: {str(e)[:200]}"
        return result
    replay = _Replayer(env, root, max_steps, t0 + max_seconds)
    # Each current sentence: its original index, or the (i, j) run a closer replaced.
    script: list[str] = list(original)
    origin: list[int | tuple[int, int]] = list(range(len(original)))
    best: list[Any] = [list(script), list(origin)]  # the shortest script known to prove

    def keep() -> None:
        best[:] = [list(script), list(origin)]

    try:
        if not replay.proves(script):
            result.verdict = "error: the proof does not replay interactively"
            return _done(result, replay, t0)
    except _Budget:
        result.verdict = "error: the budget ran out replaying the proof as it stands"
        return _done(result, replay, t0)
    try:
        changed = True
        while changed:
            changed = _replace_runs(replay, script, origin, closers, keep)
            changed = _drop_steps(replay, script, origin, keep) or changed
    except _Budget:  # stop searching; what was confirmed so far stands
        script, origin = best
    if len(script) >= len(original):
        return _done(result, replay, t0)
    states = [replay.cache.get(tuple(script[:k])) for k in range(len(script))]
    if not all(isinstance(s, ProofState) for s in states):  # `keep` saw every prefix proved
        raise AssertionError(f"minimise: a kept script has an unreplayed prefix: {script}")
    result.states = tuple(s.text for s in states if isinstance(s, ProofState))
    allowed = env.original_axioms(proof.file, proof.theorem) or ()
    try:
        verdict = env.verify(
            file=proof.file, theorem=proof.theorem, proof=script, allowed_axioms=allowed
        )
    except EnvError as e:
        result.verdict = f"not verified: {str(e)[:200]}"
        return _done(result, replay, t0)
    if not verdict:
        result.verdict = f"not verified: {verdict.reason[:200]}"
        return _done(result, replay, t0)
    result.verdict, result.after, result.axioms = "shortened", tuple(script), verdict.axioms
    kept = {o for o in origin if isinstance(o, int)}
    result.needed = tuple(i in kept for i in range(len(original)))
    result.replaced = [
        {"closer": s, "steps": list(o)}
        for s, o in zip(script, origin, strict=True)
        if isinstance(o, tuple)
    ]
    return _done(result, replay, t0)


def _done(result: Minimised, replay: _Replayer, t0: float) -> Minimised:
    result.steps_run = replay.steps_run
    result.time_s = time.perf_counter() - t0
    return result


def _span(o: int | tuple[int, int]) -> tuple[int, int]:
    return (o, o + 1) if isinstance(o, int) else o


def _replace_runs(
    replay: _Replayer,
    script: list[str],
    origin: list[int | tuple[int, int]],
    closers: Sequence[str],
    keep: Callable[[], None],
) -> bool:
    """At each step i, the first closer (in `closers` order) that lands where a later step
    lands replaces the run up to the latest such step; each change is kept only once the
    whole script still proves the goal."""
    changed = False
    i = 0
    while i < len(script) - 1:
        later = [replay.state(script[:j]) for j in range(i + 2, len(script) + 1)]
        for closer in closers:
            if closer in script[i : i + 1]:
                continue
            landed = replay.state([*script[:i], closer])
            if landed is None:
                continue
            j = next(
                (i + 2 + k for k in reversed(range(len(later))) if _same(landed, later[k])),
                None,
            )
            if j is None:
                continue
            run = (_span(origin[i])[0], _span(origin[j - 1])[1])
            candidate, where = [*script[:i], closer, *script[j:]], [*origin[:i], run, *origin[j:]]
            if not replay.proves(candidate):  # same goal text, yet the rest does not replay
                continue
            script[:], origin[:] = candidate, where
            keep()
            changed = True
            break
        i += 1
    return changed


def _drop_steps(
    replay: _Replayer,
    script: list[str],
    origin: list[int | tuple[int, int]],
    keep: Callable[[], None],
) -> bool:
    """Drop each step the rest of the proof does not need (last first)."""
    changed = False
    for k in reversed(range(len(script))):
        if len(script) > 1 and replay.proves(script[:k] + script[k + 1 :]):
            del script[k], origin[k]
            keep()
            changed = True
    return changed


def minimise_corpus(
    env: ProofEnv,
    corpus: Corpus,
    *,
    limit: int | None = None,
    max_steps: int = 400,
    log: Callable[[str], None] = print,
) -> tuple[list[Minimised], dict[str, Any]]:
    """Minimise the first `limit` proofs of `corpus` (all when None) and put each verified
    shorter proof in its original's place, so mining sees the minimised corpus. Returns the
    per-proof results and a summary (`library.json`'s "minimisation")."""
    t0 = time.perf_counter()
    results: list[Minimised] = []
    count = len(corpus.proofs) if limit is None else min(limit, len(corpus.proofs))
    for k in range(count):
        proof = corpus.proofs[k]
        m = minimise(env, proof, max_steps=max_steps)
        results.append(m)
        if m.shortened:
            corpus.replace(k, m.after, m.states)
        log(
            f"[{k + 1}/{count}] {proof.full_name}: {len(m.before)} -> {len(m.after)} steps "
            f"({m.verdict[:80]})"
        )
    return results, summarise(results, time.perf_counter() - t0)


def add_to_replay(store: ReplayStore, results: Sequence[Minimised], round: int = 0) -> int:
    """Store each verified shorter proof of a theorem the store already has a proof of (model
    version "minimised"), so retraining sees the shorter one; returns how many were new.
    Theorems the store has not proved (e.g. the trace's) are left out: the store holds
    what the prover proved."""
    known = store.proved_theorems()
    added = 0
    for m in results:
        if m.shortened and (m.file, m.theorem) in known:
            added += store.add_proof(
                theorem=m.theorem,
                file=m.file,
                tactics=m.after,
                steps=list(zip(m.states, m.after, strict=True)),
                axioms=m.axioms,
                time_s=m.time_s,
                model_version=MINIMISED_VERSION,
                round=round,
            )
    return added


def summarise(results: Sequence[Minimised], seconds: float) -> dict[str, Any]:
    shortened = [m for m in results if m.shortened]
    closers = Counter(r["closer"] for m in shortened for r in m.replaced)
    verdicts = Counter(m.verdict.split(":")[0] for m in results)
    return {
        "proofs": len(results),
        "shortened": len(shortened),
        "verdicts": dict(sorted(verdicts.items())),
        "steps_before": sum(len(m.before) for m in results),
        "steps_after": sum(len(m.after) for m in results),
        "steps_not_kept": sum(m.needed.count(False) for m in shortened),
        "tactic_runs": sum(m.steps_run for m in results),
        "seconds": round(seconds, 1),
        "closing_combinations": dict(closers.most_common()),
    }
