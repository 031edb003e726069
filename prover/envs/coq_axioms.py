"""Named axiom allowances (`--allow-axioms SET`): fixed lists of Coq kernel names.

Proofs about real numbers in Coq rest on the standard library's axioms, as Lean's rest on
`propext`, `Classical.choice` and `Quot.sound`: since Coq 8.12 `R` is built from Dedekind
cuts with two axioms of `Coq.Reals.ClassicalDedekindReals`, and its lemmas use functional
extensionality. A benchmark of real-number problems (miniF2F) is only fair with them allowed.

`classical` (`CLASSICAL` below, documented one by one in docs/MINIF2F_COQ.md) is exactly the
axioms the Coq 8.16 standard library declares for its real numbers (`sig_forall_dec`,
`sig_not_dec`, `functional_extensionality_dep`) and for classical logic, choice, description,
extensionality and proof irrelevance (`theories/Logic`), by full kernel name.

Each name is matched by its full kernel path in the audit session
(`coq_judge.Audit.resolve_allowed`), only when it is a declared axiom and only when its library
was loaded from Coq's own installation. A user's axiom is never one of them: its kernel path
is its file's (a file whose own logical name would start with `Coq` is refused outright,
`coq_project.file_context`), and a library forged under `Coq.` elsewhere is not Coq's
installation. Any other axiom, `Admitted` lemma or `Parameter` is still rejected.
"""

from __future__ import annotations

CLASSICAL: tuple[str, ...] = (
    "Coq.Reals.ClassicalDedekindReals.sig_forall_dec",
    "Coq.Reals.ClassicalDedekindReals.sig_not_dec",
    "Coq.Logic.FunctionalExtensionality.functional_extensionality_dep",
    "Coq.Logic.Classical_Prop.classic",
    "Coq.Logic.PropExtensionality.propositional_extensionality",
    "Coq.Logic.ProofIrrelevance.proof_irrelevance",
    "Coq.Logic.Eqdep.Eq_rect_eq.eq_rect_eq",
    "Coq.Logic.ClassicalEpsilon.constructive_indefinite_description",
    "Coq.Logic.IndefiniteDescription.constructive_indefinite_description",
    "Coq.Logic.Description.constructive_definite_description",
    "Coq.Logic.Epsilon.epsilon_statement",
    "Coq.Logic.RelationalChoice.relational_choice",
    "Coq.Logic.ClassicalUniqueChoice.dependent_unique_choice",
    "Coq.Logic.ExtensionalFunctionRepresentative.extensional_function_representative",
)

AXIOM_SETS: dict[str, tuple[str, ...]] = {"none": (), "classical": CLASSICAL}


def axiom_set(name: str) -> tuple[str, ...]:
    """The kernel names of the allowance `name` (`none` or `classical`)."""
    try:
        return AXIOM_SETS[name]
    except KeyError:
        raise ValueError(
            f"unknown axiom allowance {name!r}: choose one of {', '.join(AXIOM_SETS)}"
        ) from None
