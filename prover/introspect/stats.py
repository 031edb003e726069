"""Per-program statistics from a replay store: how often search tried each library program,
how often it ran without failing, and how many verified proofs call it.

    stats = program_stats(store)      # {"st_1a2b3c4d": {"tried": 40, ...}, ...}

A program's name is the hash of its body, so counts recorded under one library carry over
to any library holding the same program.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prover.envs.coq_library import program_calls
from prover.replay import ReplayStore

SUCCESS_KINDS = ("progress", "proved")  # the tactic ran without failing or timing out


def program_stats(store: ReplayStore) -> dict[str, dict[str, Any]]:
    """Per program named in the store: `tried` (tactic outcomes calling it), `succeeded`
    (those that made progress or proved the goal), `success_rate` (succeeded / tried, None
    when never tried) and `in_proofs` (verified proofs with a step calling it)."""
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"tried": 0, "succeeded": 0, "in_proofs": 0}
    )
    for tactic, kind, count in store.outcome_counts():
        for name in program_calls(tactic):
            stats[name]["tried"] += count
            stats[name]["succeeded"] += count if kind in SUCCESS_KINDS else 0
    for proof in store.proofs():
        for name in set().union(*map(program_calls, proof["tactics"])):
            stats[name]["in_proofs"] += 1
    for s in stats.values():
        s["success_rate"] = round(s["succeeded"] / s["tried"], 4) if s["tried"] else None
    return dict(sorted(stats.items()))


def empty() -> dict[str, Any]:
    """The statistics of a program no store has seen."""
    return {"tried": 0, "succeeded": 0, "in_proofs": 0, "success_rate": None}
