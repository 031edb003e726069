"""What every evaluation shares: its config (split, limit, budgets) and the JSON summary and
markdown table it reports, whichever benchmark (`coq_split`, `minif2f`) produced it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from prover.episodes import EpisodeResult, tally
from prover.search import SearchConfig


@dataclass(frozen=True)
class EvalConfig:
    split: str = "novel_files/test"
    limit: int | None = None
    time_limit_s: float = 60.0  # search wall time per theorem
    tactic_timeout: float = 5.0  # seconds per tactic
    expand_batch: int = 1  # open nodes per policy call (a model policy batches them)
    debug_search: bool = False  # check the search tree's invariants after every expansion
    library: str = ""  # a tactic library folder the env loads (`springtail introspect`)

    def search(self) -> SearchConfig:
        return SearchConfig(
            time_limit_s=self.time_limit_s, expand_batch=self.expand_batch, debug=self.debug_search
        )


def summarize(
    config: EvalConfig,
    policy: str,
    results: list[EpisodeResult],
    wall_s: float,
    settings: dict[str, Any] | None = None,
    version: str = "",
) -> dict[str, Any]:
    """The JSON summary of an evaluation: counts, budget, search totals, per-theorem rows
    (with the source of each proof step), and what the policy was given (`settings`: e.g.
    CoqHammer's limits) and its `version` (its closers, its model: what its replay outcomes are
    tagged with)."""
    sources: Counter[str] = Counter(s for r in results if r.proved for s in r.sources)
    return {
        "split": config.split,
        "policy": policy,
        "policy_version": version,
        **tally(results),
        "budget": {"time_limit_s": config.time_limit_s, "tactic_timeout": config.tactic_timeout},
        "policy_settings": settings or {},
        "proof_step_sources": dict(sorted(sources.items())),
        "wall_time_s": round(wall_s, 1),
        "results": [
            {
                "theorem": r.theorem,
                "proved": r.proved,
                "proof": r.proof,
                "time_s": round(r.time_s, 3),
                "status": str(r.status),
                "reason": r.reason,
                "axioms": r.axioms,
                "imports": r.imports,
                "imports_dropped": r.imports_dropped,
                "sources": r.sources,
                "retried": r.retried,
                "worker": r.worker,
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
