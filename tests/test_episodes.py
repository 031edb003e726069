"""The episode driver on a scripted env: what counts as discarded, which errors stop a run,
what the recorder sees, the import fallback, and the original-axiom retry.

Run: pytest tests/test_episodes.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.data import Theorem
from prover.envs import (
    BackendUnavailable,
    DependencyNotBuilt,
    EnvError,
    Failed,
    ImportRejected,
    ProofState,
    Proved,
    TheoremNotFound,
    VerifyResult,
)
from prover.envs.base import Status
from prover.episodes import RUN_ERRORS, EpisodeResult, TheoremUnusable, run_theorems, tally
from prover.policies import Candidate, TacticPolicy
from prover.search import SearchConfig

FILE = Path("T.v")


class Env:
    """`good` closes with `auto.`; `axiom` closes with `classic.`, which verify refuses for
    an axiom unless `classic` is allowed; `leaky` refuses the policy's imports; `bad` does not
    open; `gone` raises the error given."""

    def __init__(self, gone: Exception | None = None) -> None:
        self.gone = gone
        self.verified: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        self.opened: list[tuple[str, tuple[str, ...]]] = []

    def open(self, *, file, theorem, imports=()):
        self.opened.append((theorem, tuple(imports)))
        if theorem == "gone" and self.gone is not None:
            raise self.gone
        if theorem == "bad":
            raise EnvError("statement does not elaborate")
        if theorem == "leaky" and imports:
            raise ImportRejected("the import would load this file")
        return ProofState(theorem, len(self.opened), 1)

    def step(self, state, tactic):
        if tactic == "auto." and state.text in ("good", "leaky", "admitted", "crash"):
            return Proved((tactic,))
        if (state.text, tactic) == ("axiom", "classic."):
            return Proved((tactic,))
        return Failed("no")

    def verify(self, *, file, theorem, proof, imports=(), allowed_axioms=()):
        self.verified.append((theorem, tuple(imports), tuple(allowed_axioms)))
        if theorem == "axiom":
            if "classic" in allowed_axioms:
                return VerifyResult(True, axioms=("classic",))
            return VerifyResult(False, "uses axiom(s) classic", only_axioms=True)
        if theorem == "admitted":  # refused for more than axioms, whatever is allowed
            return VerifyResult(False, "uses axiom(s) lemma: an admitted lemma, never allowed")
        if theorem == "crash":
            raise EnvError("coqidetop failed twice in a row")
        return VerifyResult(True)

    def original_axioms(self, file, theorem):
        return ("classic",) if theorem in ("axiom", "admitted") else None


class Policy(TacticPolicy):
    name = version = "scripted"
    imports = ("Require Import Extra.",)

    def propose(self, state):
        return [Candidate("auto.", -0.1), Candidate("classic.", -0.2)]


class Recorder:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str, str]] = []
        self.finished: list[tuple[str, Status]] = []

    def outcome(self, theorem, state, tactic, result, seconds, source=""):
        self.outcomes.append((theorem.name, tactic, type(result).__name__))

    def finish(self, theorem, result: EpisodeResult):
        self.finished.append((theorem.name, result.status))


def run(env: Env, names: list[str], **kw) -> list[EpisodeResult]:
    theorems = [Theorem(FILE, n) for n in names]
    return list(run_theorems(env, Policy(), theorems, SearchConfig(time_limit_s=5), **kw))


def test_one_result_per_theorem_and_the_recorder_sees_every_outcome() -> None:
    env, rec = Env(), Recorder()
    results = run(env, ["good", "bad", "axiom"], recorder=rec)
    assert [r.status for r in results] == [Status.PROVED, Status.DISCARDED, Status.REJECTED]
    assert results[1].reason == "statement does not elaborate" and not results[1].attempted
    assert results[2].reason == "uses axiom(s) classic" and results[2].proof == ["classic."]
    assert rec.finished == [(r.theorem, r.status) for r in results]
    assert rec.outcomes == [
        ("good", "auto.", "Proved"),
        ("axiom", "auto.", "Failed"),
        ("axiom", "classic.", "Proved"),
    ]
    counts = tally(results)
    assert (counts["attempted"], counts["proved"], counts["discarded"]) == (2, 1, 1)
    assert counts["pass_at_1"] == 0.5


def test_a_proof_is_verified_without_the_policy_imports_first() -> None:
    env = Env()
    (good,) = run(env, ["good"])
    assert good.proved and good.imports == [] and not good.imports_dropped
    assert env.opened == [("good", Policy.imports)]  # searched with them
    assert env.verified == [("good", (), ())]  # but the proof needs none


def test_imports_refused_by_the_env_are_dropped_not_the_theorem() -> None:
    env = Env()
    (leaky,) = run(env, ["leaky"])
    assert leaky.proved and leaky.imports_dropped
    assert env.opened == [("leaky", Policy.imports), ("leaky", ())]


def test_original_axioms_are_allowed_only_when_asked_and_only_for_axiom_refusals() -> None:
    env = Env()
    (plain,) = run(env, ["axiom"])
    assert plain.status is Status.REJECTED
    (lenient,) = run(env, ["axiom"], allow_original_axioms=True)
    assert lenient.proved and lenient.axioms == ["classic"]
    assert env.verified[-1] == ("axiom", (), ("classic",))
    # a refusal for anything but axioms gets no second check with the original's axioms
    env.verified.clear()
    (admitted,) = run(env, ["admitted"], allow_original_axioms=True)
    assert admitted.status is Status.REJECTED and "admitted lemma" in admitted.reason
    assert env.verified == [("admitted", (), ()), ("admitted", Policy.imports, ())]


def test_an_assistant_failing_after_open_is_a_failed_attempt_not_a_discard() -> None:
    env, rec = Env(), Recorder()
    (crash,) = run(env, ["crash"], recorder=rec, discard_unusable=False)
    assert crash.status is Status.ERROR and crash.attempted
    assert "failed twice" in crash.reason and rec.finished == [("crash", Status.ERROR)]


@pytest.mark.parametrize("error", [BackendUnavailable("no coq"), DependencyNotBuilt("make")])
def test_run_errors_stop_the_run_instead_of_discarding(error: EnvError) -> None:
    assert isinstance(error, RUN_ERRORS)
    with pytest.raises(type(error)):
        run(Env(gone=error), ["good", "gone", "good"])


def test_without_discarding_a_bad_theorem_is_a_typed_error() -> None:
    with pytest.raises(TheoremUnusable, match="does not elaborate"):
        run(Env(), ["bad"], discard_unusable=False)
    with pytest.raises(TheoremNotFound):
        run(Env(gone=TheoremNotFound("no theorem named gone")), ["gone"], discard_unusable=False)
    (found,) = run(Env(gone=TheoremNotFound("no theorem named gone")), ["gone"])
    assert found.status is Status.DISCARDED


def test_result_json_keeps_the_fields_and_plain_strings() -> None:
    (good,) = run(Env(), ["good"])
    row = good.to_json()
    assert row["status"] == "proved" and type(row["status"]) is str and row["proved"] is True
    keys = {"theorem", "proved", "proof", "time_s", "axioms", "imports", "status", "reason"}
    assert keys | {"search", "imports_dropped", "steps", "sources", "retried", "worker"} == set(row)
    # a resumed run reads its finished theorems back from this JSON
    assert EpisodeResult.from_json(json.loads(json.dumps(row))) == good


def test_only_a_verified_proof_reaches_learn() -> None:
    """An online policy learns from accepted proofs only: a proof `verify` refuses is never
    handed to `learn`."""

    class Learner(Policy):
        def __init__(self) -> None:
            self.learned: list[list[tuple[str, str]]] = []

        def learn(self, steps):
            self.learned.append(list(steps))

    policy = Learner()
    theorems = [Theorem(FILE, n) for n in ("good", "admitted", "axiom")]
    results = list(run_theorems(Env(), policy, theorems, SearchConfig(time_limit_s=5)))
    assert [r.status for r in results] == [Status.PROVED, Status.REJECTED, Status.REJECTED]
    assert policy.learned == [[("good", "auto.")]]
