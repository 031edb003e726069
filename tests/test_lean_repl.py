"""The Lean REPL backend against REPL transcripts (tests/golden/lean_repl_*.in) replayed by a
stand-in REPL process (tests/golden/fake_repl.py); and, when a Lean toolchain is present,
against the real `lake exe repl`. None of the transcripts was recorded from a real REPL: all
are hand-written from the REPL's documented JSON protocol (fake_repl.py says more).

Each golden case holds a Lean file, a list of operations, optional `LeanConfig` fields
("config") and the transcript the REPL must see ("process": k says which REPL process must get
a request: the check and the axiom audit each run in a fresh one; `$PICKLE` stands for the
pickle's path, which the stand-in checks is private, fresh and untouched); the rendered
outcomes must equal `<case>.expected.out` exactly (a `.produced.out` is written beside it on
mismatch), and no pickle may be left behind. The `lean_repl_refuse_*` cases are one per
refusal of the soundness rule (prover/envs/lean_audit.py); each says in its "note" what it
shows.

Also here: the kernel names lean_source.py gives declarations (namespaces, sections, `_root_`,
`private`, commands that do not start a line) and the names it marks as in doubt, the pickle
paths, the parser of `#print axioms` answers, and the validation of allowed axioms.

Run: pytest tests/test_lean_repl.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from prover.envs import EnvError, Failed, Progress, Proved, TimedOut, VerifyResult
from prover.envs.lean_audit import allowed_axioms, parse_axioms_answer, read_axioms_answer
from prover.envs.lean_names import is_identifier, root_ref, split_name
from prover.envs.lean_repl import LeanConfig, LeanReplEnv
from prover.envs.lean_source import parse_lean, proof_command, statement_end

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("lean_repl_*.in"))


def render(out: object) -> str:
    if isinstance(out, Progress):
        return f"Progress num_goals={out.state.num_goals} {out.state.text!r}"
    if isinstance(out, Proved):
        return f"Proved {list(out.proof)!r}"
    if isinstance(out, Failed):
        return f"Failed {out.message!r}"
    if isinstance(out, TimedOut):
        return f"TimedOut {out.timeout_s}"
    return repr(out)


def fake_config(tmp_path: Path, transcript: list, **fields: object) -> LeanConfig:
    """A `LeanConfig` whose REPL is the stand-in replaying `transcript`."""
    scratch = tmp_path / "scratch"
    (tmp_path / "transcript.json").write_text(json.dumps(transcript))
    cmd = (
        sys.executable,
        str(GOLDEN / "fake_repl.py"),
        str(tmp_path / "transcript.json"),
        str(tmp_path / "position"),
        str(scratch),
    )
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return LeanConfig(
        tactic_timeout=1.0,
        command_timeout=10.0,
        repl_cmd=cmd,
        project_dir=str(tmp_path),
        scratch_dir=str(scratch),
        **options,  # type: ignore[arg-type]
    )


def render_verdict(res: VerifyResult) -> str:
    return f"ok={res.ok} axioms={list(res.axioms)} {res.reason!r}"


def run_case(case: dict, tmp_path: Path) -> str:
    lean_file = tmp_path / "Case.lean"
    lean_file.write_text(case["file"])
    config = fake_config(tmp_path, case["transcript"], **case.get("config", {}))
    position = tmp_path / "position"
    lines, states = [], []
    with LeanReplEnv(config) as env:
        for op in case["ops"]:
            if op[0] == "open":
                s = env.open(file=lean_file, theorem=op[1])
                states.append(s)
                lines.append(f"open {op[1]} -> {s.text!r}")
            elif op[0] == "step":
                out = env.step(states[op[1]], op[2])
                if isinstance(out, Progress):
                    states.append(out.state)
                lines.append(f"step {op[1]} {op[2]!r} -> {render(out)}")
            elif op[0] == "check":
                allowed = op[1] if len(op) > 1 else ()
                for name, res in env.check_file(lean_file, allowed_axioms=allowed).items():
                    lines.append(f"check {name} -> {render_verdict(res)}")
            elif op[0] == "verify":
                allowed = op[3] if len(op) > 3 else ()
                res = env.verify(file=lean_file, theorem=op[1], proof=op[2], allowed_axioms=allowed)
                extra = f" allowing {allowed}" if allowed else ""
                lines.append(f"verify {op[1]} {op[2]!r}{extra} -> {render_verdict(res)}")
        lines.append(f"restarts {env.restarts}")
    used = int(position.read_text()) if position.exists() else 0
    lines.append(f"transcript {used}/{len(case['transcript'])}")
    scratch = Path(config.scratch_dir)
    assert not scratch.exists() or not list(scratch.iterdir()), "a pickle was left behind"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path) -> None:
    case = json.loads((GOLDEN / f"{name}.in").read_text())
    produced = run_case(case, tmp_path)
    expected_path = GOLDEN / f"{name}.expected.out"
    expected = expected_path.read_text() if expected_path.exists() else None
    if produced != expected:
        (GOLDEN / f"{name}.produced.out").write_text(produced)
    assert produced == expected, f"see {GOLDEN / (name + '.produced.out')}"


def test_pickles_go_to_fresh_private_folders(tmp_path: Path) -> None:
    """Each pickle path is a random name in a new folder of mode 0700 (never a path an earlier
    check or the checked file could know), made in the system's temporary folder by default."""
    from prover.envs.lean_repl import _new_pickle_path, _remove_pickle

    first, second = _new_pickle_path(""), _new_pickle_path(str(tmp_path / "s"))
    try:
        assert first.parent.parent == Path(tempfile.gettempdir())
        assert second.parent.parent == tmp_path / "s"
        for pickle in (first, second):
            assert oct(pickle.parent.stat().st_mode & 0o777) == oct(0o700)
            assert not pickle.exists() and len(pickle.stem) == 32
        assert first.name != second.name and first.parent.name != second.parent.name
    finally:
        _remove_pickle(first)
        _remove_pickle(second)
    assert not first.parent.exists() and not list((tmp_path / "s").iterdir())


def test_statement_end_skips_binders_comments_and_strings() -> None:
    text = (
        "theorem t (f : Nat → Nat := fun x => x) /- := -/ "
        '(s : String := ":=") : f 0 = 0 := by\n  rfl'
    )
    cut = statement_end(text)
    assert text[cut:].startswith(":= by")
    lf = parse_lean("import Mathlib\nimport Aesop\n\nopen Real\n\n" + text + "\n")
    assert lf.header == "import Mathlib\nimport Aesop\n"
    assert [d.name for d in lf.decls] == ["t"]


def test_missing_lake_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from prover.envs import BackendUnavailable

    monkeypatch.setenv("PATH", str(tmp_path))
    f = tmp_path / "A.lean"
    f.write_text("theorem a : True := by\n  trivial\n")
    with LeanReplEnv(LeanConfig()) as env, pytest.raises(BackendUnavailable, match="lake"):
        env.open(file=f, theorem="a")


NAMESPACED = """import Mathlib
/- theorem in_comment : True := trivial
   namespace Commented -/
namespace Foo.Bar
theorem a : True := trivial
private theorem p : True := trivial
end Foo.Bar
namespace Foo
section S
open Nat
protected theorem b : True := trivial
def s : String := "theorem in_string : True := trivial\nnamespace X"
def c : Char := '"'
theorem _root_.r : True := trivial
theorem «odd name.with dot» : True := trivial
end S
mutual
  theorem m : True := trivial
end
lemma l.{u} (α : Sort u) : True := trivial
end Foo
theorem a : True := trivial
"""


def test_kernel_names_follow_namespaces_and_sections() -> None:
    lf = parse_lean(NAMESPACED)
    assert [(d.display, d.is_private) for d in lf.theorems] == [
        ("Foo.Bar.a", False),
        ("Foo.Bar.p", True),
        ("Foo.b", False),
        ("r", False),
        ("Foo.«odd name.with dot»", False),
        ("Foo.m", False),
        ("Foo.l", False),
        ("a", False),
    ]
    assert lf.theorems[4].full_name == ("Foo", "odd name.with dot")


def test_commands_count_wherever_they_stand() -> None:
    """Lean needs no line break between commands: `end`, `namespace` and declarations count
    mid-line; not inside brackets (attributes, syntax quotations), `deriving instance`, or an
    identifier (`h.end`); a «quoted» name with comment or string markers hides nothing."""
    lf = parse_lean(
        "namespace A\ntheorem a : True := trivial end A theorem b : True := trivial\n"
        "open Nat in private theorem c : True := trivial namespace B\n"
        "theorem «x /- » : True := trivial\ntheorem d : True := h.end\n"
        '-- -/\ntheorem «y " -- » : True := trivial end B\n'
        "attribute [instance] foo\n@[simp, instance] def e := 1\n"
        "deriving instance Repr for Foo\ninstance (priority := low) f : Inhabited Nat := ⟨0⟩\n"
        'macro "m" : command => `(theorem g : True := trivial)\nclass inductive C | k\n'
        "section\nend theorem h : True := trivial\n"
    )
    assert [(d.keyword, d.display, d.is_private, d.doubt) for d in lf.decls] == [
        ("theorem", "A.a", False, ""),
        ("theorem", "b", False, ""),
        ("theorem", "c", True, ""),
        ("theorem", "B.«x /- »", False, ""),
        ("theorem", "B.d", False, ""),
        ("theorem", 'B.«y " -- »', False, ""),
        ("def", "e", False, ""),
        ("instance", "f", False, ""),
        ("class", "C", False, ""),
        ("theorem", "h", False, ""),
    ]
    assert [d.display for d in lf.audited] == ["A.a", "b", "c", "B.«x /- »", "B.d"] + [
        'B.«y " -- »',
        "e",
        "f",
        "h",
    ]


@pytest.mark.parametrize(
    ("text", "doubts"),
    [
        (  # Lean reads `end` + `A` on the next line as `end A`; the parse sees a bare `end`
            "namespace A\ntheorem a : True := trivial\nend\n  A\ntheorem b : True := trivial\n",
            ["", "`end` at line 3 does not close the scope open there"],
        ),
        (
            "section S\ntheorem a : True := trivial\nend T\ntheorem b : True := trivial\n",
            ["", "`end T` at line 3 does not close"],
        ),
        ("end\ntheorem a : True := trivial\n", ["`end` at line 1 does not close"]),
        (
            "theorem a : True := trivial\nnamespace X\ntheorem a : True := trivial\nend X\n"
            "theorem a : 1 = 1 := rfl\n",
            ["a is declared more than once (lines 1, 5)", "", "declared more than once"],
        ),
        (
            "theorem a : True := (trivial\ntheorem b : True := trivial\n",
            ["brackets do not balance"],
        ),
        ("theorem a : True := trivial)\n", ["brackets do not balance"]),
        ("theorem : True := trivial\n", ["cannot read the name after `theorem`"]),
    ],
)
def test_doubtful_names_are_marked(text: str, doubts: list[str]) -> None:
    decls = parse_lean(text).decls
    assert len(decls) == len(doubts)
    for d, why in zip(decls, doubts, strict=True):
        assert why in d.doubt and bool(d.doubt) == bool(why)
        assert not d.doubt or d.doubt.startswith("Springtail's parse of the file is ambiguous")


def test_unsafe_partial_and_nameless_declarations_are_not_audited() -> None:
    lf = parse_lean(
        "unsafe def u := 1\npartial def p : Nat → Nat := p\ninstance : Inhabited Unit := ⟨()⟩\n"
        "example : True := trivial\naxiom ax : False\nstructure S where x : Nat\n"
        "noncomputable abbrev a : Nat := 1\nopaque o : Nat\nlemma l : True := trivial\n"
    )
    assert [d.display for d in lf.audited] == ["a", "o", "l"]


def test_find_takes_full_names_or_a_unique_suffix() -> None:
    lf = parse_lean(NAMESPACED)
    assert lf.find("a") is lf.theorems[-1]  # the full name `a` wins over `Foo.Bar.a`
    assert lf.find("Foo.Bar.a") is lf.theorems[0]
    assert lf.find("Bar.p") is lf.theorems[1]
    assert lf.find("odd name.with dot") is lf.theorems[4]  # not a name: taken as one component
    assert lf.find("«odd name.with dot»") is lf.theorems[4]
    two = parse_lean(
        "namespace X\ntheorem t : True := trivial\nend X\n"
        "namespace Y\ntheorem t : True := trivial\nend Y\n"
    )
    assert two.find("t") is None and two.find("Y.t") is two.theorems[1]


def test_theorems_are_listed_by_full_name(tmp_path: Path) -> None:
    f = tmp_path / "N.lean"
    f.write_text(NAMESPACED)
    names = [t.name for t in LeanReplEnv(LeanConfig()).theorems(f)]
    assert names[:3] == ["Foo.Bar.a", "Foo.Bar.p", "Foo.b"]


def test_proof_command_ends_with_the_theorem() -> None:
    lf = parse_lean(
        "import Mathlib\n\ntheorem a : True := by\n  sorry\n\ntheorem b : True := by\n  sorry\n"
    )
    text = proof_command(lf, lf.theorems[0], ["trivial"])
    assert text == "import Mathlib\n\ntheorem a : True := by\n  trivial\n"


def test_names_are_written_to_resolve_from_the_root() -> None:
    assert root_ref(("Foo", "and_swap'")) == "_root_.«Foo».«and_swap'»"
    assert split_name("Foo.«a.b c».d'") == ("Foo", "a.b c", "d'")
    with pytest.raises(ValueError):
        root_ref(("bad»name",))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("'t' does not depend on any axioms", (("t",), ())),
        ("'and_swap'' does not depend on any axioms", (("and_swap'",), ())),
        (
            "'Foo.bar' depends on axioms: [propext, Classical.choice, Quot.sound]",
            (("Foo", "bar"), (("propext",), ("Classical", "choice"), ("Quot", "sound"))),
        ),
        (
            "'Foo.«a, b».c' depends on axioms: [«x, y»,\n Quot.sound]",
            (("Foo", "a, b", "c"), (("x, y",), ("Quot", "sound"))),
        ),
        (
            "'«x' depends on axioms: [propext]»' does not depend on any axioms",
            (("x' depends on axioms: [propext]",), ()),
        ),
        ("'x' depends on axioms: [a]' depends on axioms: [b]", None),
        ("'x' depends on axioms: propext", None),
        ("'x' depends on axioms: []", None),
        ("x depends on axioms: [propext]", None),
        ("'two words' does not depend on any axioms", None),
        ("", None),
    ],
)
def test_parse_axioms_answer(data: str, expected: object) -> None:
    assert parse_axioms_answer(data) == expected


def _answer(*messages: tuple[str, str]) -> dict:
    return {"env": 1, "messages": [{"severity": s, "data": d} for s, d in messages]}


@pytest.mark.parametrize(
    ("resp", "is_private", "axioms", "problem"),
    [
        (_answer(("info", "'A.t' depends on axioms: [propext]")), False, ("propext",), ""),
        (
            _answer(("warning", "linted"), ("info", "'A.t' does not depend on any axioms")),
            False,
            (),
            "",
        ),
        (_answer(("info", "'_private.0.A.t' does not depend on any axioms")), True, (), ""),
        (
            _answer(("info", "'_private.0.A.t' does not depend on any axioms")),
            False,
            (),
            "is about _private.0.A.t, not A.t",
        ),
        (_answer(("info", "'t' does not depend on any axioms")), False, (), "is about t"),
        (_answer(), False, (), "no `#print axioms` answer"),
        (
            _answer(
                ("info", "'A.t' does not depend on any axioms"),
                ("info", "'A.t' does not depend on any axioms"),
            ),
            False,
            (),
            "ambiguous",
        ),
        (_answer(("error", "unknown constant 'A.t'")), False, (), "the audit failed"),
        ({"message": "Unknown environment."}, False, (), "the audit failed"),
    ],
)
def test_read_axioms_answer(resp: dict, is_private: bool, axioms: tuple, problem: str) -> None:
    audited = read_axioms_answer(resp, ("A", "t"), is_private=is_private)
    assert audited.axioms == axioms and problem in audited.problem
    assert bool(audited.problem) == bool(problem)


@pytest.mark.parametrize(
    ("name", "native", "error"),
    [
        ("my_axiom", False, ""),
        ("Foo.«odd name»", False, ""),
        ("Lean.ofReduceBool", True, ""),
        ("Lean.ofReduceBool", False, "allow_native_decide"),
        ("Lean.trustCompiler", False, "allow_native_decide"),
        ("sorryAx", True, "sorryAx cannot be allowed"),
        ("«sorryAx»", True, "sorryAx cannot be allowed"),
        ("two words", False, "not a Lean identifier"),
        ("1abc", False, "not a Lean identifier"),
        ("Foo.", False, "not a Lean identifier"),
        ("a]b", False, "not a Lean identifier"),
    ],
)
def test_allowed_axioms_are_validated(name: str, native: bool, error: str) -> None:
    if not error:
        assert split_name(name) in allowed_axioms([name], allow_native_decide=native)
        assert is_identifier(name)
        return
    with pytest.raises(EnvError, match=error):
        allowed_axioms([name], allow_native_decide=native)
    with pytest.raises(EnvError, match=error):
        LeanConfig(allowed_axioms=(name,), allow_native_decide=native)


def test_native_decide_axioms_only_with_the_flag() -> None:
    assert ("Lean", "ofReduceBool") not in allowed_axioms([], allow_native_decide=False)
    assert ("Lean", "ofReduceBool") in allowed_axioms([], allow_native_decide=True)


@pytest.mark.lean
def test_real_repl_proves_and_verifies(tmp_path: Path) -> None:
    f = tmp_path / "Real.lean"
    f.write_text("theorem and_swap' (p q : Prop) (h : p ∧ q) : q ∧ p := by\n  sorry\n")
    with LeanReplEnv(LeanConfig(tactic_timeout=30)) as env:
        s0 = env.open(file=f, theorem="and_swap'")
        s1 = env.step(s0, "obtain ⟨hp, hq⟩ := h")
        assert isinstance(s1, Progress)
        done = env.step(s1.state, "exact ⟨hq, hp⟩")
        assert isinstance(done, Proved)
        assert env.verify(file=f, theorem="and_swap'", proof=list(done.proof))
        assert not env.verify(file=f, theorem="and_swap'", proof=["exact ⟨h.2, sorry⟩"])


def test_lean_verdict_status_says_whether_allowing_an_axiom_could_help() -> None:
    from prover.envs.base import Status
    from prover.envs.lean_audit import Audited, judge
    from prover.envs.lean_source import format_lean_proof

    allowed = allowed_axioms([], allow_native_decide=False)
    assert judge(Audited(("propext",)), allowed, 0.0).status is Status.PROVED
    assert judge(Audited(("propext", "my_ax")), allowed, 0.0).status is Status.USES_AXIOM
    assert judge(Audited(("sorryAx",)), allowed, 0.0).status is Status.REJECTED
    assert judge(Audited(("Lean.ofReduceBool",)), allowed, 0.0).status is Status.REJECTED
    assert judge(Audited(problem="no answer"), allowed, 0.0).status is Status.REJECTED
    assert format_lean_proof(["intro h", "simp at h\nexact h"]) == (
        ":= by\n  intro h\n  simp at h\n  exact h"
    )
