"""Lean tactic programs (issue 12, point 3): Lean tactics read into trees, mined with the same
Stitch code, rendered as `macro`s; checked against golden text (the shared InternLM miniF2F
steps), and hostile Lean library text refused. Lean is not installed here: nothing is compiled.

Run: pytest tests/test_introspect_lean.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.envs.coq_ltac import Atom, Seq, Wrap
from prover.envs.lean_tactic import (
    LeanParseError,
    lean_library_problems,
    local_names,
    parse_lean_tactic,
    print_lean,
)

STEPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "lean_states" / "steps.jsonl"
GOLDEN = Path(__file__).parent / "golden" / "lean_tacticlib.expected.lean"
needs_data = pytest.mark.skipif(not STEPS.is_file(), reason=f"{STEPS} (shared data) not here")


@pytest.mark.parametrize(
    "text",
    [
        "field_simp [h₁, h₂, h₃] <;> ring",
        "rw [← Nat.mod_add_div (∑ x in Finset.range 10, (x + 1) ^ 2) 10] at h₀",
        "refine' ⟨n + 1, _⟩",
        "try (norm_num <;> linarith)",
        "nlinarith [sq_nonneg (a - b), h₀.2.1]",
        "(try simp) <;> linarith",
        "a <;> (try b) <;> c",
        "all_goals norm_num <;> linarith",
        "ring_nf <;> (all_goals simp) <;> linarith",
    ],
)
def test_printing_a_read_lean_tactic_gives_its_text_back(text: str) -> None:
    assert print_lean(parse_lean_tactic(text, {"h₀", "a", "b"})) == text


def test_lean_trees_have_the_structure_lean_gives_them() -> None:
    tree = parse_lean_tactic("interval_cases n <;> simp <;> try simp_all <;> linarith")
    assert isinstance(tree, Seq) and isinstance(tree.first, Seq)  # left-associative
    assert isinstance(tree.rest, Wrap) and tree.rest.word == "try"  # `try` takes the rest
    assert isinstance(tree.rest.body, Seq)
    assert print_lean(tree) == "interval_cases n <;> simp <;> try (simp_all <;> linarith)"
    atom = parse_lean_tactic("linarith [h₀.1]", {"h₀"})
    assert isinstance(atom, Atom)
    assert [t.text for t in atom.tokens] == ["linarith", "[", "h₀", ".1", "]"]


@pytest.mark.parametrize(
    "text",
    ["conv => lhs; rw [h]", "exact h₁ 4 (by decide)", "cases h with | inl a => simp", "(simp"],
)
def test_what_the_reader_does_not_model_is_refused_not_guessed(text: str) -> None:
    with pytest.raises(LeanParseError):
        parse_lean_tactic(text)


def test_local_names_come_from_the_goal_display() -> None:
    state = "case h\nb h v : ℝ\nh₀ : 0 < b ∧ 0 < h\n⊢ v = 65"
    assert local_names(state) == {"b", "h", "v", "h₀"}


@needs_data
def test_the_lean_library_of_the_shared_proofs_matches_its_golden_text(tmp_path, capsys) -> None:
    from prover.cli import main

    out, project = tmp_path / "lib", tmp_path / "lean_project"
    (project / "Springtail").mkdir(parents=True)
    argv = ["introspect", "--backend", "lean", "--trace", str(STEPS), "--out", str(out)]
    assert main([*argv, "--iterations", "20", "--lean-project", str(project)]) == 0
    text = (out / "TacticLib.lean").read_text(encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert (project / "Springtail" / "TacticLib.lean").read_text(encoding="utf-8") == text
    assert lean_library_problems(text) == []
    assert "x0:term:max x1:term:max : tactic => `(tactic| linarith [$x0:term, $x1:term])" in text
    assert "h₀" not in text  # local names are parameters, never baked into a macro
    payload = json.loads((out / "library.json").read_text())
    assert payload["backend"] == "lean" and payload["corpus"]["skipped"]
    assert not any(p["verified"] for p in payload["programs"])  # no Lean here to check them
    assert all(p["reason"] for p in payload["programs"])
    assert sum(bool(p["macro"]) for p in payload["programs"]) == text.count("\nmacro ")
    assert main(["library", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "macros only" in shown and shown.count("| st_") == text.count("\nmacro ")
    (out / "TacticLib.lean").write_text(text.replace("end Springtail", "axiom bad : False"))
    assert main(["library", "show", str(out)]) == 1


@pytest.mark.parametrize(
    "line",
    [
        'macro "st_0a0a0a0a" : tactic => `(tactic| sorry)',
        'macro "st_0a0a0a0a" : tactic => `(tactic| exact (by native_decide))',
        'macro "st_0a0a0a0a" : tactic => `(tactic| simp) #eval IO.println 1',
        "axiom cheat : False",
        "set_option debug.skipKernelTC true",
        'macro "st_0a0a0a0a" : tactic => `(tactic| exact Classical.choice sorry)',
    ],
)
def test_hostile_lean_library_text_is_refused(line: str) -> None:
    assert lean_library_problems(line + "\n")


@pytest.mark.parametrize(
    "extra",
    [
        ["--minimise"],
        ["--replay", "r.sqlite"],
        ["--lean-project", "{tmp}/nowhere"],
        ["--lean-project", "{tmp}/handwritten"],
    ],
)
def test_lean_introspection_bad_input_exits_2(extra, tmp_path, capsys) -> None:
    from prover.cli import main

    steps = tmp_path / "steps.jsonl"
    steps.write_text(json.dumps(STEP) + "\n")
    argv = ["introspect", "--backend", "lean", "--trace", str(steps), "--out", str(tmp_path / "l")]
    handwritten = tmp_path / "handwritten" / "Springtail"
    handwritten.mkdir(parents=True)
    (handwritten / "TacticLib.lean").write_text("theorem mine : True := trivial\n")
    assert main([*argv, *(a.replace("{tmp}", str(tmp_path)) for a in extra)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "l").exists()
    assert (handwritten / "TacticLib.lean").read_text() == "theorem mine : True := trivial\n"


STEP = {"theorem": "t", "step": 0, "state_before": "x : ℕ\n⊢ x = x", "tactic": "rfl"}
STEP["state_after"] = "no goals"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["[1, 2]"], "not a LeanDojo step"),
        ([json.dumps({k: v for k, v in STEP.items() if k != "state_after"})], "state_after"),
        (["{not json"], "not JSON"),
        ([], "no whole Lean proof read"),
        ([json.dumps(STEP | {"tactic": "exact (by rfl)"})], "no whole Lean proof read"),
    ],
)
def test_unreadable_lean_steps_exit_2(lines, message, tmp_path, capsys) -> None:
    from prover.cli import main

    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(line + "\n" for line in lines))
    argv = ["introspect", "--backend", "lean", "--trace", str(steps), "--out", str(tmp_path / "l")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_shipped_lean_library_is_a_generated_one() -> None:
    from prover.introspect.lean import is_generated

    shipped = Path(__file__).resolve().parents[1] / "lean_project" / "Springtail" / "TacticLib.lean"
    assert is_generated(shipped.read_text(encoding="utf-8"))
