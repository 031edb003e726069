"""Golden tests of the coqidetop XML answers: recorded `Goal` answers from Coq 8.16.1
(tests/golden/coq_goal_*.in) must parse to exactly `<case>.expected.out` (a `.produced.out`
is written beside it on mismatch).

Run: pytest tests/test_coq_xml.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.envs.coq_xml import CoqFail, parse_answer, parse_goals

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("coq_goal_*.in"))


def render(raw: bytes) -> str:
    value = parse_answer(raw)
    if isinstance(value, CoqFail):
        return f"fail state_id={value.state_id}: {value.message}\n"
    goals = parse_goals(value)
    lines = []
    for kind in ("foreground", "background", "shelved", "given_up"):
        for goal in getattr(goals, kind):
            lines += [f"--- {kind}", goal]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    produced = render((GOLDEN / f"{name}.in").read_bytes())
    expected_path = GOLDEN / f"{name}.expected.out"
    expected = expected_path.read_text() if expected_path.exists() else None
    if produced != expected:
        (GOLDEN / f"{name}.produced.out").write_text(produced)
    assert produced == expected, f"see {GOLDEN / (name + '.produced.out')}"


def test_messages_are_collected_from_feedback() -> None:
    messages: list[str] = []
    raw = (GOLDEN / "coq_goal_interrupted.in").read_bytes()
    assert isinstance(parse_answer(raw, messages), CoqFail)
    assert messages == ["User interrupt."]
