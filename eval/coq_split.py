"""Evaluate a policy on a split of a Coq trace (e.g. `novel_files/test`): pass@1 under a budget.

Theorems are ordered by a hash of their full name (as ReProver does), so `--limit K` takes a
fixed, unbiased sample. Every theorem goes through the episode driver
(`prover.episodes.run_theorems`): theorems that cannot be opened are counted as `discarded`,
apart from failures; each proof is re-checked from scratch by `env.verify`; for stdlib lemmas
whose own proof relies on library axioms, exactly those axioms are allowed and no others.

Run: springtail eval coq --split novel_files/test --policy portfolio --limit 50 --json out.json
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.data import Theorem, split_theorems
from prover.envs import get_env
from prover.episodes import EpisodeResult, LiveRate, run_theorems, tally
from prover.policies import TacticPolicy
from prover.replay import ReplayRecorder, ReplayStore
from prover.search import SearchConfig


@dataclass(frozen=True)
class EvalConfig:
    split: str = "novel_files/test"
    limit: int | None = None
    time_limit_s: float = 60.0  # search wall time per theorem
    tactic_timeout: float = 5.0  # seconds per tactic
    expand_batch: int = 1  # open nodes per policy call (a model policy batches them)
    debug_search: bool = False  # check the search tree's invariants after every expansion

    def search(self) -> SearchConfig:
        return SearchConfig(
            time_limit_s=self.time_limit_s, expand_batch=self.expand_batch, debug=self.debug_search
        )


def evaluate(
    data_dir: Path,
    policy: TacticPolicy,
    config: EvalConfig,
    log: Callable[[str], None] | None = None,
    *,
    theorems: list[Theorem] | None = None,
    store: ReplayStore | None = None,
) -> dict[str, Any]:
    """Run the policy on the split (or on `theorems`); returns the JSON-ready summary with
    per-theorem results. With `store`, every tactic outcome and every verified proof is
    recorded there, tagged with the policy's version."""
    if theorems is None:
        theorems = split_theorems(data_dir, config.split)[: config.limit]
    recorder = ReplayRecorder(store, policy.version) if store is not None else None
    live = LiveRate(len(theorems), f"{policy.name} {config.split}", log)
    with get_env("coq", tactic_timeout=config.tactic_timeout) as env:
        runs = run_theorems(
            env, policy, theorems, config.search(), recorder, allow_original_axioms=True
        )
        for theorem, r in zip(theorems, runs, strict=True):
            live.add(theorem.shown, r)
    return summarize(config, policy.name, live.close(), live.wall_s)


def summarize(
    config: EvalConfig, policy: str, results: list[EpisodeResult], wall_s: float
) -> dict[str, Any]:
    """The JSON summary of an evaluation: counts, budget, search totals, per-theorem rows."""
    return {
        "split": config.split,
        "policy": policy,
        **tally(results),
        "budget": {"time_limit_s": config.time_limit_s, "tactic_timeout": config.tactic_timeout},
        "wall_time_s": round(wall_s, 1),
        "results": [
            {
                "theorem": r.theorem,
                "proved": r.proved,
                "proof": r.proof,
                "time_s": round(r.time_s, 3),
                "status": str(r.status),
                "reason": r.reason,
                "imports": r.imports,
                "imports_dropped": r.imports_dropped,
                "search": r.search,
            }
            for r in results
        ],
    }


def markdown_table(summaries: list[dict]) -> str:
    lines = [
        "| policy | split | proved / attempted | pass@1 | discarded | imports dropped "
        "| budget per theorem |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        b = s["budget"]
        lines.append(
            f"| {s['policy']} | {s['split']} | {s['proved']} / {s['attempted']} | "
            f"{s['pass_at_1']:.1%} | {s['discarded']} | {s['imports_dropped']} | "
            f"{b['time_limit_s']:.0f} s search, "
            f"{b['tactic_timeout']:.0f} s per tactic |"
        )
    return "\n".join(lines)
