"""The Coq backend against a real coqidetop/coqc: stepping, errors, timeouts, restarts,
refused inputs, and `verify` rejecting every kind of cheat, on a user file and a stdlib file.

Run: pytest tests/test_coq_env.py   (needs Coq 8.16: `make setup` installs it)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from prover.envs import EnvError, Failed, Progress, Proved, TheoremNotFound, TimedOut
from prover.envs.coq_project import stdlib_theories

CHEATS = """\
Lemma adm : False. Admitted.
Axiom ax : forall P : Prop, P \\/ ~ P.
Unset Guard Checking.
Fixpoint loop (n : nat) : False := loop n.
Set Guard Checking.
Unset Positivity Checking.
Inductive bad := Bad : (bad -> False) -> bad.
Set Positivity Checking.
Unset Universe Checking.
Definition U : Type := Type.
Set Universe Checking.
Lemma t_adm : 1 = 2.
Proof. Admitted.
Lemma t_ax : forall P : Prop, P \\/ ~ P.
Proof. Admitted.
Lemma t_guard : 1 = 2.
Proof. Admitted.
Lemma t_pos : bad -> bad.
Proof. Admitted.
Lemma t_univ : U = U.
Proof. Admitted.
"""


@pytest.fixture()
def cheats_file(tmp_path: Path) -> Path:
    path = tmp_path / "Cheats.v"
    path.write_text(CHEATS)
    return path


def test_step_progress_error_and_proof(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    assert "forall a b : nat, a + b = b + a" in s0.text and s0.num_goals == 1
    out = coq_env.step(s0, "intros a b.")
    assert isinstance(out, Progress) and "a, b : nat" in out.state.text
    err = coq_env.step(out.state, "apply no_such_lemma.")
    assert isinstance(err, Failed) and "no_such_lemma" in err.message
    done = coq_env.step(out.state, "apply Nat.add_comm.")
    assert done == Proved(("intros a b.", "apply Nat.add_comm."))


def test_branching_from_earlier_states(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    s1 = coq_env.step(s0, "intros a b.").state
    s2 = coq_env.step(s1, "rewrite Nat.add_comm.").state
    s1b = coq_env.step(s0, "intro a.").state  # a sibling branch discards s1's live state
    assert isinstance(coq_env.step(s2, "reflexivity."), Proved)  # s2 is rebuilt on demand
    assert isinstance(coq_env.step(s1b, "intro b."), Progress)
    other = coq_env.open(file=user_file, theorem="and_true")  # another theorem, same file
    assert "A : Prop" in other.text
    assert isinstance(coq_env.step(s1, "apply Nat.add_comm."), Proved)  # back to the first


def test_timeout_then_same_state_still_works(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    t0 = time.monotonic()
    out = coq_env.step(s0, "do 1000000000 idtac.")
    assert isinstance(out, TimedOut)
    assert time.monotonic() - t0 < coq_env.config.tactic_timeout + 2
    assert isinstance(coq_env.step(s0, "intros a b."), Progress)


def test_killed_process_is_restarted_and_state_rebuilt(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    s1 = coq_env.step(s0, "intros a b.").state
    os.kill(coq_env._proc.proc.pid, signal.SIGKILL)
    coq_env._proc.proc.wait()
    out = coq_env.step(s1, "apply Nat.add_comm.")
    assert out == Proved(("intros a b.", "apply Nat.add_comm."))
    assert coq_env.restarts == 1 and coq_env.crashes == 1  # a death it did not cause


def test_a_timeout_kill_is_no_crash(coq_env, user_file: Path) -> None:
    """A tactic that ignores its time limit is killed by the env: that restart is no crash
    (a pool would otherwise retry every theorem with a stubborn tactic)."""
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    coq_env.step(s0, "intros a b.")
    coq_env._forget_process()  # what the env does to a process that ignored an interrupt
    assert coq_env.restarts == 1 and coq_env.crashes == 0


def test_states_of_old_theorems_are_forgotten(coq_env, tmp_path: Path) -> None:
    """An env proving theorem after theorem keeps the states of its last KEEP_THEOREMS opened
    theorems only (bounded memory); a forgotten state is refused with a clear error."""
    from prover.envs.coq import KEEP_THEOREMS

    src = tmp_path / "Many.v"
    n = KEEP_THEOREMS + 1
    src.write_text(
        "".join(f"Lemma t{i} : {i} = {i}.\nProof. reflexivity. Qed.\n" for i in range(n))
    )
    states = [coq_env.open(file=src, theorem=f"t{i}") for i in range(n)]
    with pytest.raises(EnvError, match=f"last {KEEP_THEOREMS} opened theorems"):
        coq_env.step(states[0], "reflexivity.")
    assert coq_env.step(states[1], "reflexivity.") == Proved(("reflexivity.",))
    # t0 opened again is the most recent: t1, now the oldest, goes; t2 stays
    coq_env.open(file=src, theorem="t0")
    with pytest.raises(EnvError, match="unknown state handle"):
        coq_env.step(states[1], "reflexivity.")
    assert coq_env.step(states[2], "reflexivity.") == Proved(("reflexivity.",))
    assert len(coq_env._handles) < 4 * KEEP_THEOREMS


@pytest.mark.parametrize(
    "tactic",
    [
        "intros. Qed.",
        "Qed.",
        "Admitted.",
        "admit.",
        "give_up.",
        "Axiom cheat : False.",
        "Unset Guard Checking.",
        'Redirect "x" Print nat.',
        "Drop.",
        "Fail auto.",
        "Timeout 1 auto.",
        "- intros.",
    ],
)
def test_refused_inputs(coq_env, user_file: Path, tactic: str) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    out = coq_env.step(s0, tactic)
    assert isinstance(out, Failed), out
    assert isinstance(coq_env.step(s0, "intros a b."), Progress)  # the env is unharmed


def test_unknown_theorem_and_bad_file(coq_env, user_file: Path, tmp_path: Path) -> None:
    with pytest.raises(TheoremNotFound, match="did you mean"):
        coq_env.open(file=user_file, theorem="add_comm")
    with pytest.raises(EnvError, match="no such file"):
        coq_env.open(file=tmp_path / "Nope.v", theorem="x")
    broken = tmp_path / "Broken.v"
    broken.write_text("Require Import NoSuchLibrary.\nLemma x : True.\nProof. exact I. Qed.\n")
    with pytest.raises(EnvError, match="Coq rejected line 1"):
        coq_env.open(file=broken, theorem="x")


def test_verify_accepts_real_proof_in_section(coq_env, user_file: Path) -> None:
    res = coq_env.verify(file=user_file, theorem="and_true", proof=["auto."])
    assert res and res.axioms == ()
    res = coq_env.verify(file=user_file, theorem="add_comm'", proof=["intros.", "lia."])
    assert not res and "lia" in res.reason  # Lia is not imported by the file


def test_verify_rejects_incomplete_and_later_lemma(coq_env, user_file: Path) -> None:
    assert not coq_env.verify(file=user_file, theorem="add_comm'", proof=["intros a b."])
    later = coq_env.verify(file=user_file, theorem="add_0_r'", proof=["intros.", "apply later."])
    assert not later and "later" in later.reason
    smuggled = coq_env.verify(file=user_file, theorem="and_true", proof=["auto. Qed."])
    assert not smuggled and "refused" in smuggled.reason


@pytest.mark.parametrize(
    ("theorem", "proof", "reason"),
    [
        ("t_adm", ["exact (False_ind _ adm)."], "adm"),
        ("t_ax", ["exact ax."], "ax"),
        ("t_guard", ["destruct (loop 0)."], "guarded"),
        ("t_pos", ["exact (fun b => b)."], "positive"),
        ("t_univ", ["reflexivity."], "unsafe"),
    ],
)
def test_verify_rejects_cheats(
    coq_env, cheats_file: Path, theorem: str, proof, reason: str
) -> None:
    res = coq_env.verify(file=cheats_file, theorem=theorem, proof=proof)
    assert not res, res
    assert reason in res.reason


def test_allowed_axiom_but_never_an_admitted_lemma(coq_env, cheats_file: Path) -> None:
    ok = coq_env.verify(
        file=cheats_file, theorem="t_ax", proof=["exact ax."], allowed_axioms=["ax"]
    )
    assert ok and ok.axioms == ("Cheats.ax",)  # kernel names
    res = coq_env.verify(
        file=cheats_file,
        theorem="t_adm",
        proof=["exact (False_ind _ adm)."],
        allowed_axioms=["adm"],
    )
    assert not res and "admitted lemma" in res.reason


def test_verdicts_carry_a_status_and_allowed_axioms_add_to_the_config(cheats_file: Path) -> None:
    from prover.envs import get_env
    from prover.envs.base import Status

    with get_env("coq", tactic_timeout=2.0, allowed_axioms=["Cheats.ax"]) as env:
        assert env.verify(file=cheats_file, theorem="t_ax", proof=["exact ax."]).ok
        # a call's allowed axioms come on top of the configured ones, never instead of them
        both = env.verify(
            file=cheats_file, theorem="t_ax", proof=["exact ax."], allowed_axioms=["Cheats.adm"]
        )
        assert both.ok and both.status is Status.PROVED
    with get_env("coq", tactic_timeout=2.0) as env:
        only_axiom = env.verify(file=cheats_file, theorem="t_ax", proof=["exact ax."])
        assert only_axiom.status is Status.USES_AXIOM and "ax" in only_axiom.reason
        admitted = env.verify(file=cheats_file, theorem="t_adm", proof=["exact (False_ind _ adm)."])
        assert admitted.status is Status.REJECTED  # an admitted lemma is not an axiom to allow
        guard = env.verify(file=cheats_file, theorem="t_guard", proof=["destruct (loop 0)."])
        assert guard.status is Status.REJECTED
        assert env.format_proof(["intros n.", "lia."]) == "Proof.\n  intros n.\n  lia.\nQed."


def test_stdlib_file_is_replayed_from_source(coq_env) -> None:
    bool_v = stdlib_theories() / "Bool" / "Bool.v"
    s0 = coq_env.open(file=bool_v, theorem="negb_involutive")
    assert "negb (negb b) = b" in s0.text
    s1 = coq_env.step(s0, "intros b.").state
    done = coq_env.step(s1, "destruct b; reflexivity.")
    assert isinstance(done, Proved)
    assert coq_env.verify(file=bool_v, theorem="negb_involutive", proof=list(done.proof))


def test_stdlib_own_compiled_copy_is_never_accepted(coq_env) -> None:
    bool_v = stdlib_theories() / "Bool" / "Bool.v"
    cheat = ["exact Coq.Bool.Bool.negb_involutive."]
    plain = coq_env.verify(file=bool_v, theorem="negb_involutive", proof=cheat)
    assert not plain  # the compiled copy is not loaded: the name does not exist
    leaky = coq_env.verify(
        file=bool_v,
        theorem="negb_involutive",
        proof=cheat,
        imports=["From Coq Require Import Lia."],  # Lia loads Coq.Bool.Bool's compiled copy
    )
    assert not leaky and "compiled copy of Coq.Bool.Bool" in leaky.reason


def test_unresponsive_coq_is_killed_at_the_deadline(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    coq_env._proc.interrupt = lambda: None  # as if Coq ignored SIGINT (a stuck C loop)
    t0 = time.monotonic()
    out = coq_env.step(s0, "do 1000000000 idtac.")
    assert isinstance(out, TimedOut)
    assert time.monotonic() - t0 < coq_env.config.tactic_timeout + 2
    assert coq_env.restarts == 1
    assert isinstance(coq_env.step(s0, "intros a b."), Progress)


FUNCTORS = """\
Module Type T. Parameter t : Type. Axiom t_inh : t. End T.
Module Type S. Parameter u : Type. End S.
Module F (Import X : T) <: S.
Definition u := t.
Lemma l : t.
Proof. Admitted.
End F.
Axiom cheat : False.
Module G (Import X : T).
Lemma m : 1 = 2.
Proof. Admitted.
End G.
"""


def test_verify_inside_functors(coq_env, tmp_path: Path) -> None:
    path = tmp_path / "Functors.v"
    path.write_text(FUNCTORS)
    # A field of an imported functor parameter prints unqualified, yet is a parameter; the
    # module's signature (`<: S`) cannot hold for the truncated body, so it is dropped.
    assert coq_env.verify(file=path, theorem="l", proof=["exact t_inh."])
    res = coq_env.verify(file=path, theorem="m", proof=["destruct cheat."])
    assert not res and "cheat" in res.reason


def test_a_lone_surrogate_is_refused_not_raised(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    out = coq_env.step(s0, 'idtac "\ud800".')
    assert isinstance(out, Failed) and "Unicode" in out.message


def test_states_from_another_or_a_closed_env_raise(coq_env, user_file: Path) -> None:
    from prover.envs import get_env

    with get_env("coq", tactic_timeout=2.0) as other:
        foreign = other.open(file=user_file, theorem="later")
        mine = coq_env.open(file=user_file, theorem="add_comm'")
        with pytest.raises(EnvError, match="another env"):
            coq_env.step(foreign, "intros a.")
        assert isinstance(other.step(foreign, "intros a."), Progress)
    with pytest.raises(EnvError, match="closed"):
        other.step(foreign, "intros a.")
    coq_env.close()
    with pytest.raises(EnvError, match="closed"):
        coq_env.step(mine, "intros a b.")


def test_a_stopped_coq_is_killed_at_the_deadline(coq_env, user_file: Path) -> None:
    s0 = coq_env.open(file=user_file, theorem="add_comm'")
    os.kill(coq_env._proc.proc.pid, signal.SIGSTOP)  # frozen: answers nothing, not even SIGINT
    t0 = time.monotonic()
    out = coq_env.step(s0, "intros a b.")
    assert isinstance(out, TimedOut)
    assert time.monotonic() - t0 < coq_env.config.tactic_timeout + 2
    assert isinstance(coq_env.step(s0, "intros a b."), Progress)  # restarted, state rebuilt


def test_a_users_coqrc_never_runs(coq_installed: None, tmp_path: Path, monkeypatch) -> None:
    """Coq's sessions start with -q: a startup file would run in the audit's session too."""
    from prover.envs.coq_xml import CoqProcess

    (tmp_path / "coq").mkdir()
    (tmp_path / "coq" / "coqrc").write_text("Axiom springtail_from_rc : False.\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    proc = CoqProcess()
    try:
        out = proc.query("Locate springtail_from_rc.", proc.root_state)
        assert "No object" in str(out), out
    finally:
        proc.close()


def test_imports_are_refused_for_non_theorem_statements(coq_env, tmp_path: Path) -> None:
    """A policy's imports could change what a statement means; it is checked against the
    statement elaborated without them only for theorems."""
    f = tmp_path / "Def.v"
    f.write_text("Definition d : nat.\nProof. Admitted.\n")
    res = coq_env.verify(
        file=f, theorem="d", proof=["exact 0."], imports=["From Coq Require Import Lia."]
    )
    assert not res and "only for theorems" in res.reason
    assert coq_env.verify(file=f, theorem="d", proof=["exact 0."])
