"""The LeanDojo adapter, driven with LeanDojo's real result classes (TacticState,
ProofFinished, LeanError, ProofGivenUp and its timeout/crash exceptions) from a stand-in Dojo;
and, with a Lean toolchain, against a real traced repository (marked `lean`).

Run: pytest tests/test_leandojo.py
"""

from __future__ import annotations

import lean_dojo
import pytest

from prover.envs import Failed, Progress, Proved, TimedOut
from prover.envs.leandojo import LeanDojoConfig, LeanDojoEnv, audit_lean_output

S0 = "p q : Prop\nh : p ∧ q\n⊢ q ∧ p"
S1 = "p q : Prop\nhp : p\nhq : q\n⊢ q ∧ p"


class ScriptedDojo:
    """Answers tactics from a table keyed by (state id, tactic); counts entries."""

    entered = 0

    def __init__(self, table: dict) -> None:
        self.table = table

    def __enter__(self):
        ScriptedDojo.entered += 1
        return self, lean_dojo.TacticState(S0, 0)

    def __exit__(self, *exc) -> None:
        pass

    def run_tac(self, state, tactic):
        answer = self.table[(state.id, tactic)]
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("scripted")
        return answer


TABLE = {
    (0, "obtain ⟨hp, hq⟩ := h"): lean_dojo.TacticState(S1, 1),
    (1, "exact ⟨hq, hp⟩"): lean_dojo.ProofFinished(2),
    (1, "exact hp"): lean_dojo.LeanError("type mismatch"),
    (1, "exact?"): lean_dojo.ProofGivenUp(),
    (1, "spin"): lean_dojo.DojoTacticTimeoutError,
    (1, "boom"): lean_dojo.DojoCrashError,
}


@pytest.fixture()
def env():
    ScriptedDojo.entered = 0
    e = LeanDojoEnv(LeanDojoConfig(), dojo_factory=lambda f, n, t: ScriptedDojo(TABLE))
    yield e
    e.close()


def test_results_map_onto_the_protocol(env: LeanDojoEnv) -> None:
    s0 = env.open(file="MiniF2F/Test.lean", theorem="and_swap'")
    assert s0.text == S0 and s0.num_goals == 1
    s1 = env.step(s0, "obtain ⟨hp, hq⟩ := h")
    assert isinstance(s1, Progress) and s1.state.text == S1
    assert env.step(s1.state, "exact hp") == Failed("type mismatch")
    given_up = env.step(s1.state, "exact?")
    assert isinstance(given_up, Failed) and "sorry" in given_up.message
    assert env.step(s1.state, "exact ⟨hq, hp⟩") == Proved(
        ("obtain ⟨hp, hq⟩ := h", "exact ⟨hq, hp⟩")
    )
    assert isinstance(env.step(s1.state, "sorry"), Failed)  # refused before reaching Lean


def test_timeout_and_crash_restart_and_rebuild(env: LeanDojoEnv) -> None:
    s0 = env.open(file="MiniF2F/Test.lean", theorem="and_swap'")
    s1 = env.step(s0, "obtain ⟨hp, hq⟩ := h").state
    assert isinstance(env.step(s1, "spin"), TimedOut)
    assert isinstance(env.step(s1, "exact ⟨hq, hp⟩"), Proved)  # re-entered and rebuilt
    crashed = env.step(s1, "boom")
    assert isinstance(crashed, Failed) and "crashed" in crashed.message
    assert isinstance(env.step(s1, "exact ⟨hq, hp⟩"), Proved)
    assert ScriptedDojo.entered == 3 and env.restarts == 2


@pytest.mark.parametrize(
    ("rc", "output", "ok", "reason"),
    [
        (0, "'t' does not depend on any axioms\n", True, ""),
        (0, "'t' depends on axioms: [propext, Classical.choice, Quot.sound]\n", True, ""),
        (
            0,
            "F.lean:3:8: warning: declaration uses 'sorry'\n't' depends on axioms: [sorryAx]",
            False,
            "sorry",
        ),
        (1, "F.lean:4:2: error: unknown identifier 'x'\n", False, "rejected"),
        (0, "'t' depends on axioms: [Lean.ofReduceBool]\n", False, "ofReduceBool"),
        (0, "", False, "no `#print axioms`"),
    ],
)
def test_audit_of_lean_output(rc: int, output: str, ok: bool, reason: str) -> None:
    res = audit_lean_output(rc, output, "t", LeanDojoConfig(), 0.0)
    assert res.ok == ok and reason in res.reason


@pytest.mark.lean
def test_real_dojo_on_minif2f() -> None:
    """Needs Lean and network access to trace the repository (LeanDojo's own cache)."""
    config = LeanDojoConfig(repo_url="https://github.com/yangky11/miniF2F-lean4", commit="main")
    with LeanDojoEnv(config) as env:
        s0 = env.open(file="MiniF2F/Valid/mathd_algebra_10.lean", theorem="mathd_algebra_10")
        assert "⊢" in s0.text
        assert isinstance(env.step(s0, "exact no_such_lemma_anywhere"), Failed)
        assert not env.verify(
            file="MiniF2F/Valid/mathd_algebra_10.lean",
            theorem="mathd_algebra_10",
            proof=["exact no_such_lemma_anywhere"],
        )
