"""Attacks on proof minimisation (`springtail introspect --minimise`): a shorter proof found on
Coq's interactive engine counts only when the whole-file check accepts it. Each case is a
hostile source file; whatever minimisation keeps must compile with `coqc` on its own with
no assumption beyond the theorem's own, and nothing the checker refuses may replace a proof.

Run: pytest tests/soundness/test_minimise.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prover.envs import get_env
from prover.introspect.corpus import Corpus
from prover.introspect.minimise import minimise

PRELUDE = """\
Ltac easy ::= admit.
Definition P (b : bool) : Prop := if b then True else 0 = 0.
Notation "'Pp'" := (P _) (only printing).
"""
# theorem -> (statement, proof steps)
THEOREMS = {
    # interactively, `auto` closes the goal with the unguarded recursive call; Qed refuses it
    "add0": (
        "Fixpoint add0 (n : nat) : n + 0 = n.",
        ["destruct n.", "reflexivity.", "simpl.", "rewrite add0.", "reflexivity."],
    ),
    # `easy` is redefined to admit: a closer must never smuggle that in
    "plus0": (
        "Lemma plus0 : forall n : nat, n + 0 = n.",
        ["induction n.", "reflexivity.", "simpl.", "rewrite IHn.", "reflexivity."],
    ),
    # two different goals print alike (`Pp`): equal text must not stand for equal goals
    "both": (
        "Lemma both : P false /\\ P true.",
        ["split.", "unfold P.", "reflexivity.", "exact I."],
    ),
    # a control prefix inside the proof
    "timed": ("Lemma timed : True.", ["Time idtac.", "exact I."]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("minimise_attacks")
    src = root / "Hostile.v"
    body = "".join(
        f"{statement}\nProof. {' '.join(steps)} Qed.\n" for statement, steps in THEOREMS.values()
    )
    src.write_text(PRELUDE + body, encoding="utf-8")
    assert subprocess.run(["coqc", "-q", str(src)], cwd=root, capture_output=True).returncode == 0
    corpus = Corpus()
    for name, (_, steps) in THEOREMS.items():
        states = [f"s{k}" for k in range(len(steps))]
        corpus.add(
            name, f"Hostile.{name}", src, list(zip(states, steps, [*states[1:], None], strict=True))
        )
    assert [p.theorem for p in corpus.proofs] == list(THEOREMS)
    with get_env("coq", tactic_timeout=5) as env:
        return root, {p.theorem: minimise(env, p) for p in corpus.proofs}


def _closed(root: Path, name: str, proof: tuple[str, ...]) -> str:
    """coqc's verdict on the prelude, the statement and `proof`, with Print Assumptions."""
    check = root / f"Check_{name}.v"
    statement = THEOREMS[name][0]
    check.write_text(
        f"{PRELUDE}{statement}\nProof.\n"
        + "\n".join(proof)
        + f"\nQed.\nPrint Assumptions {name}.\n",
        encoding="utf-8",
    )
    run = subprocess.run(["coqc", "-q", check.name], cwd=root, capture_output=True, text=True)
    return (
        "compiled, closed"
        if run.returncode == 0 and "Closed under" in run.stdout
        else (f"refused: {run.stderr[-300:]}{run.stdout[-300:]}")
    )


def test_an_unguarded_recursive_call_never_replaces_a_proof(results) -> None:
    _, found = results
    m = found["add0"]
    assert m.verdict.startswith("not verified"), m.verdict
    assert "ill-formed" in m.verdict  # Coq's guard check, at Qed
    assert m.after == m.before and all(m.needed)


def test_a_closer_redefined_to_admit_is_never_kept(results) -> None:
    root, found = results
    m = found["plus0"]
    assert "easy." not in m.after
    assert _closed(root, "plus0", m.after) == "compiled, closed"


@pytest.mark.parametrize("name", list(THEOREMS))
def test_whatever_minimisation_keeps_compiles_with_no_assumption(results, name) -> None:
    root, found = results
    m = found[name]
    if m.shortened:
        assert _closed(root, name, m.after) == "compiled, closed", m.after
    else:
        assert m.after == m.before


def test_a_file_that_changes_directory_is_refused_before_any_step(tmp_path) -> None:
    src = tmp_path / "Cd.v"
    src.write_text('Cd "/tmp".\nLemma c : True.\nProof. idtac. exact I. Qed.\n')
    corpus = Corpus()
    corpus.add("c", "Cd.c", src, [("s0", "idtac.", "s1"), ("s1", "exact I.", None)])
    with get_env("coq", tactic_timeout=5) as env:
        m = minimise(env, corpus.proofs[0])
    assert m.verdict.startswith("error") and m.after == m.before
