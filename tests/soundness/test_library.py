"""Attacks on tactic libraries (`--library LIBDIR`): a library can only save typing, never
make a false statement pass. Each case is text or files a hostile LIBDIR (or project) could
hold; each must be refused with its reason, or leave the false statement unproved.

Run: pytest tests/soundness/test_library.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prover.envs import EnvError, get_env
from prover.envs.coq_library import LIBRARY_IMPORT, library_args, library_problems
from prover.envs.coq_project import LIBRARY_FILE


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Ltac st_0000abcd := admit.\n", "admit"),
        ("Ltac st_0000abcd := intros; give_up.\n", "give_up"),
        ("Axiom st_0000abcd : False.\n", "not an `Ltac"),
        ("Ltac st_0000abcd := idtac.\nRequire Import Classical.\n", "not an `Ltac"),
        ('Ltac st_0000abcd := idtac.\nRedirect "x" Print All.\n', "not an `Ltac"),
        ("Ltac st_0000abcd := exact ltac:(admit).\n", "admit"),
        ("Ltac evil := auto.\n", "not an `Ltac"),
        ("Ltac st_0000abcd := idtac with easy ::= fail.\n", "defines more than itself"),
        ("Ltac st_0000abcd := idtac with lia := idtac.\n", "defines more than itself"),
        ("Ltac st_0000abcd := " + "(" * 3000 + "idtac" + ")" * 3000 + ".\n", "not one tactic"),
        ("Ltac st_0000abcd := " + "try " * 3000 + "idtac.\n", "not one tactic"),
        ("Ltac st_0000abcd := " + "; ".join(["idtac"] * 3000) + ".\n", "not one tactic"),
        ("Ltac st_0000abcd := (auto.\n", "not one tactic"),
        ("Ltac st_0000abcd := auto. (* open\n", "cannot be read"),
    ],
)
def test_a_hostile_library_is_refused_with_the_reason(text: str, why: str, tmp_path: Path) -> None:
    assert any(why in p for p in library_problems(text)), library_problems(text)
    (tmp_path / LIBRARY_FILE).write_text(text)
    with pytest.raises(EnvError, match="not a library Springtail accepts"):
        get_env("coq", library=str(tmp_path))


def test_a_library_with_a_byte_order_mark_is_read_as_coq_reads_it(tmp_path: Path) -> None:
    text = "\ufeffLtac st_0000abcd := intros; auto.\n"
    assert library_problems(text) == []
    (tmp_path / LIBRARY_FILE).write_text(text)
    get_env("coq", library=str(tmp_path)).close()


def test_a_swapped_compiled_library_is_never_loaded(tmp_path: Path, coq_installed) -> None:
    """A `.vo` built from an axiom sits beside a harmless source: Springtail compiles its own
    copy of the source, so the axiom never reaches a proof."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / LIBRARY_FILE).write_text("Axiom st_cheat : 1 = 2.\n")
    subprocess.run(["coqc", *library_args(lib), str(lib / LIBRARY_FILE)], check=True)
    (lib / LIBRARY_FILE).write_text("Ltac st_0000abcd := intros; simpl; auto.\n")
    goal = tmp_path / "Goal.v"
    goal.write_text("Lemma bad : 1 = 2.\nProof.\nAdmitted.\n")
    with get_env("coq", library=str(lib)) as env:
        cheat = env.verify(
            file=goal, theorem="bad", proof=["exact st_cheat."], imports=[LIBRARY_IMPORT]
        )
    assert not cheat and "st_cheat" in cheat.reason


def test_a_project_binding_the_library_name_is_refused(tmp_path: Path, coq_installed) -> None:
    """A project's own `Springtail` folder (an axiom inside) must not stand in for the
    library that `From Springtail Require Import SpringtailLib.` loads."""
    lib, proj = tmp_path / "lib", tmp_path / "proj"
    (proj / "evil").mkdir(parents=True)
    lib.mkdir()
    (lib / LIBRARY_FILE).write_text("Ltac st_0000abcd := intros; auto.\n")
    (proj / "evil" / LIBRARY_FILE).write_text(
        "Axiom cheat : 1 = 2.\nLtac st_0000abcd := exact cheat.\n"
    )
    (proj / "_CoqProject").write_text("-Q evil Springtail\n-Q . P\n")
    subprocess.run(
        ["coqc", "-Q", "evil", "Springtail", f"evil/{LIBRARY_FILE}"], cwd=proj, check=True
    )
    (proj / "Bad.v").write_text("Lemma bad : 1 = 2.\nProof.\nAdmitted.\n")
    with (
        get_env("coq", library=str(lib)) as env,
        pytest.raises(EnvError, match="binds the logical"),
    ):
        env.verify(
            file=proj / "Bad.v", theorem="bad", proof=["st_0000abcd."], imports=[LIBRARY_IMPORT]
        )
