"""Coq sentence splitting, theorem lookup and the single-tactic check (no Coq needed).

Run: pytest tests/test_coq_source.py
"""

from __future__ import annotations

import pytest

from prover.envs.coq_source import TacticSentence, check_tactic, find_theorems, split_sentences


def texts(src: str) -> list[str]:
    return [s.text for s in split_sentences(src)]


def test_split_respects_comments_strings_and_qualified_names() -> None:
    src = 'Lemma a : Nat.add 0 0 = 0. (* a. comment (* nested. *) *) Proof. idtac "x. y". Qed.'
    assert texts(src) == [
        "Lemma a : Nat.add 0 0 = 0.",
        "Proof.",
        'idtac "x. y".',
        "Qed.",
    ]


def test_split_bullets_braces_and_ellipsis() -> None:
    src = "Proof with auto. split. - intros... + auto. * { exact I. } 2:{ now auto. } Qed."
    assert texts(src) == [
        "Proof with auto.",
        "split.",
        "-",
        "intros...",
        "+",
        "auto.",
        "*",
        "{",
        "exact I.",
        "}",
        "2:{",
        "now auto.",
        "}",
        "Qed.",
    ]


def test_find_theorems_spans_scopes_and_enders() -> None:
    src = (
        "Section S. Variable A : Prop.\n"
        "Lemma a : A -> A. Proof. auto. Qed.\n"
        "Example e : 1 = 1.\n"
        "Theorem b : True. exact I. Defined.\n"
        "End S.\n"
        "Module F (X Y : T). Lemma c : True. Admitted. End F.\n"
        "Definition d : nat := 0.\n"
        "Definition f : nat. exact 0. Defined.\n"
    )
    thms = {t.name: t for t in find_theorems(split_sentences(src))}
    assert set(thms) == {"a", "e", "b", "c", "f"}
    assert thms["a"].ender == "Qed" and [s.name for s in thms["a"].scopes] == ["S"]
    assert thms["e"].ender == "" and thms["e"].proof == ()
    assert thms["b"].ender == "Defined" and len(thms["b"].proof) == 1
    assert thms["c"].ender == "Admitted" and thms["c"].parameters == ("X", "Y")
    assert thms["a"].line == 2


@pytest.mark.parametrize(
    "tactic",
    [
        "intros n. Qed.",
        "Qed.",
        "Admitted.",
        "admit.",
        "try give_up.",
        "- auto.",
        "{",
        "auto...",
        "",
        "auto. Axiom x : False.",
    ],
)
def test_check_tactic_refuses(tactic: str) -> None:
    assert isinstance(check_tactic(tactic), str)


@pytest.mark.parametrize(
    ("tactic", "wrapped"),
    [
        ("intros n.", "(intros n)."),
        ("intros n", "(intros n)."),
        ("all: auto.", "all: (auto)."),
        ("2: lia.", "2: (lia)."),
        ("induction n as [|n IH]; simpl; auto.", "(induction n as [|n IH]; simpl; auto)."),
        ("apply foo with (x := 1).", "(apply foo with (x := 1))."),
        ("Axiom x : False.", "(Axiom x : False)."),  # Coq's parser rejects this inside ( )
    ],
)
def test_check_tactic_wraps(tactic: str, wrapped: str) -> None:
    out = check_tactic(tactic)
    assert isinstance(out, TacticSentence), out
    assert out.wrapped == wrapped


def test_program_instances_and_scope_ends_do_not_swallow_later_sentences() -> None:
    src = (
        "Section Defs. Section L.\n"
        "Global Program Instance eq_equiv : Equivalence (@eq A) | 10.\n"
        "End L.\nEnd Defs.\n"
        "Section B. Lemma x : True. Proof. exact I. Qed. End B.\n"
    )
    thms = find_theorems(split_sentences(src))
    assert [t.name for t in thms] == ["x"]
    assert [s.name for s in thms[0].scopes] == ["B"]


def test_proof_ends_agree_with_coq() -> None:
    """What fooled the old splitter: `Proof .`, a tactic named Qed', control prefixes."""
    src = (
        "Ltac Qed' := idtac.\n"
        "Theorem a : 1 = 2.\nProof .\nAdmitted.\n"
        "Theorem b : 1 = 2.\nProof (* c *).\n  Qed'.\nTime Admitted.\n"
        "Theorem c : True.\nProof.\nFail Qed.\nSucceed exact I.\nexact I.\nTimeout 5 Qed.\n"
        "Module M.\nTheorem d : True.\nProof. exact I. Qed.\nTime End M.\n"
        'Theorem e : True.\nProof. exact I. Redirect "x" Defined.\n'
        "Goal True.\nProof. exact I. Qed.\n"
        "Fixpoint f (n : nat) : nat.\nProof. exact 0. Defined.\n"
    )
    thms = find_theorems(split_sentences(src))
    got = [(t.name, t.ender, t.qualified_name) for t in thms]
    assert got == [
        ("a", "Admitted", "a"),
        ("b", "Admitted", "b"),
        ("c", "Qed", "c"),
        ("d", "Qed", "M.d"),
        ("e", "Defined", "e"),
        ("", "Qed", ""),
        ("f", "Defined", "f"),
    ]


def test_byte_order_mark_and_bullets_without_space() -> None:
    from prover.envs.coq_lex import BOM, CoqSyntaxError, source_text

    with pytest.raises(CoqSyntaxError):
        split_sentences(BOM + "Lemma a : True. exact I. Qed.")
    assert texts(source_text(BOM + "Lemma a : True. exact I. Qed.")) == [
        "Lemma a : True.",
        "exact I.",
        "Qed.",
    ]
    assert texts("split. -exact I. --exact I. +{ exact I. }") == [
        "split.",
        "-",
        "exact I.",
        "--",
        "exact I.",
        "+",
        "{",
        "exact I.",
        "}",
    ]


def test_strings_in_tactics_stay_verbatim() -> None:
    out = check_tactic('idtac "a  b" (* c *).')
    assert isinstance(out, TacticSentence) and out.wrapped == '(idtac "a  b").'


def test_only_coqs_blanks_end_a_sentence() -> None:
    """Coq ends a sentence at a period followed by a space, tab, CR or LF; a no-break space
    is not a blank to it (nor is a form feed)."""
    assert texts("a.\tb.\rc.") == ["a.", "b.", "c."]
    assert texts("Lemma x : True.\u00a0exact I. Qed.") == ["Lemma x : True.\u00a0exact I.", "Qed."]
