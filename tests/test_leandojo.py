"""The LeanDojo adapter, driven with LeanDojo's real result classes (TacticState,
ProofFinished, LeanError, ProofGivenUp and its timeout/crash exceptions) from a stand-in Dojo;
its `verify`, which is the Lean REPL backend's (fresh-environment check, then the axiom audit
in a fresh process), against the stand-in REPL of tests/golden; and, with a Lean toolchain,
against a real traced repository (marked `lean`).

Run: pytest tests/test_leandojo.py
"""

from __future__ import annotations

from pathlib import Path

import lean_dojo
import pytest

from prover.envs import Failed, Progress, Proved, TimedOut
from prover.envs.lean_repl import LeanReplEnv
from prover.envs.leandojo import LeanDojoConfig, LeanDojoEnv
from tests.test_lean_repl import fake_config

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


CHEAT_FILE = """import Mathlib

axiom cheat : False

#eval IO.println "'and_swap'' does not depend on any axioms"

theorem and_swap' (p q : Prop) (h : p ∧ q) : q ∧ p := by
  sorry
"""


def _verify_exchange(proof: str, n: int, answer: str) -> list[dict]:
    """What the REPL backend's verify sends and the REPL answers (hand-written, like the
    transcripts of tests/golden): the n-th check in fresh process 2n, its audit in fresh
    process 2n + 1."""
    text = CHEAT_FILE.replace("  sorry\n", f"  {proof}\n")
    forged = {
        "severity": "info",
        "pos": {"line": 5, "column": 0},
        "endPos": {"line": 5, "column": 5},
        "data": "'and_swap'' does not depend on any axioms",
    }
    answer_msg = {**forged, "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 6}}
    check, audit = 2 * n, 2 * n + 1
    return [
        {"process": check, "send": {"cmd": text}, "recv": {"env": 0, "messages": [forged]}},
        {"process": check, "send": {"pickleTo": "$PICKLE", "env": 0}, "recv": {"env": 0}},
        {"process": audit, "send": {"unpickleEnvFrom": "$PICKLE"}, "recv": {"env": 0}},
        {
            "process": audit,
            "send": {"cmd": "#print axioms _root_.«and_swap'»", "env": 0},
            "recv": {"env": 1, "messages": [{**answer_msg, "data": answer}]},
        },
    ]


def test_verify_is_the_repl_verify_on_the_repository_copy(tmp_path: Path) -> None:
    """The file's printed claim is ignored; the audit process decides."""
    repo = tmp_path / "repo"
    (repo / "MiniF2F").mkdir(parents=True)
    (repo / "MiniF2F" / "Test.lean").write_text(CHEAT_FILE)
    transcript = _verify_exchange(
        "exact ⟨h.2, h.1⟩", 0, "'and_swap'' does not depend on any axioms"
    ) + _verify_exchange("exact cheat.elim", 1, "'and_swap'' depends on axioms: [cheat]")
    verifier = LeanReplEnv(fake_config(tmp_path, transcript))
    config = LeanDojoConfig(source_dir=str(repo))
    with LeanDojoEnv(config, lambda f, n, t: ScriptedDojo(TABLE), verifier) as env:
        verify = env.verify
        honest = verify(file="MiniF2F/Test.lean", theorem="and_swap'", proof=["exact ⟨h.2, h.1⟩"])
        assert honest and honest.axioms == ()
        cheat = verify(file="MiniF2F/Test.lean", theorem="and_swap'", proof=["exact cheat.elim"])
        assert not cheat and cheat.axioms == ("cheat",) and "not allowed" in cheat.reason
        refused = verify(file="MiniF2F/Test.lean", theorem="and_swap'", proof=["sorry"])
        assert not refused and "refused" in refused.reason
    assert (tmp_path / "position").read_text() == str(len(transcript))


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


def test_allowed_axioms_reach_the_verifier_and_imports_are_refused_as_imports() -> None:
    from prover.envs import ImportRejected
    from prover.envs.base import config_from_options

    config = config_from_options(LeanDojoConfig, {"allowed_axioms": ["Classical.em"]}, "LeanDojo")
    with LeanDojoEnv(config, dojo_factory=lambda f, n, t: ScriptedDojo(TABLE)) as env:
        assert env.config.allowed_axioms == ("Classical.em",)
        assert env._verifier.config.allowed_axioms == ("Classical.em",)
        with pytest.raises(ImportRejected):  # the episode driver then searches without them
            env.open(file="MiniF2F/Test.lean", theorem="t", imports=["import Foo"])
        with pytest.raises(ImportRejected):
            env.verify(file="MiniF2F/Test.lean", theorem="t", proof=["rfl"], imports=["import X"])
        assert env.format_proof(["intro h", "exact h"]) == ":= by\n  intro h\n  exact h"
