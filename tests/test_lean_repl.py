"""The Lean REPL backend against recorded protocol messages (tests/golden/lean_repl_*.in),
written from the REPL's documented JSON protocol, replayed by a stand-in REPL process; and,
when a Lean toolchain is present, against the real `lake exe repl`.

Each golden case holds a Lean file, a list of operations and the transcript the REPL must
see; the rendered outcomes must equal `<case>.expected.out` exactly (a `.produced.out` is
written beside it on mismatch).

Run: pytest tests/test_lean_repl.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from prover.envs import Failed, Progress, Proved, TimedOut
from prover.envs.lean_repl import LeanConfig, LeanReplEnv
from prover.envs.lean_source import parse_lean, statement_end

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


def run_case(case: dict, tmp_path: Path) -> str:
    lean_file = tmp_path / "Case.lean"
    lean_file.write_text(case["file"])
    transcript = tmp_path / "transcript.json"
    transcript.write_text(json.dumps(case["transcript"]))
    position = tmp_path / "position"
    cmd = (sys.executable, str(GOLDEN / "fake_repl.py"), str(transcript), str(position))
    config = LeanConfig(
        tactic_timeout=1.0, command_timeout=10.0, repl_cmd=cmd, project_dir=str(tmp_path)
    )
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
                for name, res in env.check_file(lean_file).items():
                    lines.append(
                        f"check {name} -> ok={res.ok} axioms={list(res.axioms)} {res.reason!r}"
                    )
            elif op[0] == "verify":
                res = env.verify(file=lean_file, theorem=op[1], proof=op[2])
                lines.append(
                    f"verify {op[2]!r} -> ok={res.ok} axioms={list(res.axioms)} {res.reason!r}"
                )
        lines.append(f"restarts {env.restarts}")
    used = int(position.read_text()) if position.exists() else 0
    lines.append(f"transcript {used}/{len(case['transcript'])}")
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
