"""Tactics rewritten to call a library's programs: what a model trained with a library learns
to write.

    programs = load_programs(Path("runs/lib"))
    rewrite_step("n : nat\\n====\\nn + 0 = n", "intros; simpl; auto.", programs)

A step's tactic is parsed, its local names (from the state) canonicalised, and every match
of a program replaced by a call where the call is shorter (`mine.rewrite_with`); a tactic the
parser cannot read, or that no program shortens, comes back as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prover.envs.coq_ltac import (
    LtacParseError,
    canonicalise,
    local_names,
    parse_tactic,
    print_tactic,
)
from prover.introspect.mine import Program, from_definition, rewrite_with
from prover.policies.library import library_programs


def load_programs(folder: Path) -> list[Program]:
    """The verified programs of a library folder, in library order, ready to rewrite with."""
    return [from_definition(p["name"], p["params"], p["body"]) for p in library_programs(folder)]


def rewrite_step(state: str, tactic: str, programs: Sequence[Program]) -> str:
    """`tactic` (run on `state`) calling the programs where that is shorter."""
    if not programs:
        return tactic
    try:
        tree = parse_tactic(tactic)
    except LtacParseError:
        return tactic
    (canon,), names = canonicalise([tree], local_names(state))
    new = print_tactic(rewrite_with(canon, programs, names)) + "."
    return new if new != print_tactic(tree) + "." else tactic
