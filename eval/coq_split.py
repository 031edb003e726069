"""Evaluate a policy on a split of a Coq trace (e.g. `novel_files/test`): pass@1 under a budget.

Theorems are ordered by a hash of their full name (as ReProver does), so `--limit K` takes a
fixed, unbiased sample. Theorems that cannot be opened are counted as `discarded`, apart from
failures. Each proof is re-checked from scratch by `env.verify`; for stdlib lemmas whose own
proof relies on library axioms, exactly those axioms are allowed and no others.

Run: springtail eval coq --split novel_files/test --policy portfolio --limit 50 --json out.json
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prover.envs import EnvError, get_env
from prover.envs.coq_project import coqlib
from prover.policy import TacticPolicy
from prover.prove import ProveResult, prove_theorem
from prover.search import SearchConfig


@dataclass(frozen=True)
class EvalConfig:
    split: str = "novel_files/test"
    limit: int | None = None
    time_limit_s: float = 60.0  # search wall time per theorem
    tactic_timeout_s: float = 5.0


def split_theorems(data_dir: Path, split: str) -> list[tuple[Path, str, str]]:
    """(file, theorem, full_name) of a trace split, ordered by hash of the full name."""
    path = data_dir / f"{split}.json"
    if not path.is_file():
        raise EnvError(
            f"{path} not found: trace first (`springtail trace --backend coq --out {data_dir}`), "
            "and name a split as STRATEGY/PART, e.g. novel_files/test or random/val"
        )
    records = json.loads(path.read_text())
    out = []
    for rec in records:
        file = Path(rec["file_path"])
        if not file.is_absolute():
            file = coqlib() / file
        out.append((file, rec.get("theorem") or rec["full_name"].split(".")[-1], rec["full_name"]))
    return sorted(out, key=lambda t: hashlib.sha256(t[2].encode()).hexdigest())


def evaluate(
    data_dir: Path,
    policy: TacticPolicy,
    config: EvalConfig,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the policy on the split; returns the JSON-ready summary with per-theorem results."""
    theorems = split_theorems(data_dir, config.split)[: config.limit]
    search = SearchConfig(time_limit_s=config.time_limit_s)
    results: list[ProveResult] = []
    t0 = time.perf_counter()
    with get_env("coq", tactic_timeout=config.tactic_timeout_s) as env:
        for k, (file, name, full_name) in enumerate(theorems, 1):
            try:
                r = prove_theorem(
                    env, policy, file=file, theorem=name, config=search, allow_original_axioms=True
                )
            except EnvError as e:
                r = ProveResult(name, False, [], 0.0, status="discarded", reason=str(e))
            results.append(r)
            proved = sum(x.proved for x in results)
            attempted = sum(x.status != "discarded" for x in results)
            log(
                f"[{k}/{len(theorems)}] {full_name}: {r.status} ({r.time_s:.1f}s) | "
                f"proved {proved}/{attempted} = {proved / max(attempted, 1):.1%}"
            )
    return summarize(config, policy.name, results, time.perf_counter() - t0)


def summarize(config: EvalConfig, policy: str, results: list[ProveResult], wall_s: float) -> dict:
    attempted = [r for r in results if r.status != "discarded"]
    proved = sum(r.proved for r in attempted)
    return {
        "split": config.split,
        "policy": policy,
        "attempted": len(attempted),
        "proved": proved,
        "discarded": len(results) - len(attempted),
        # attempted without the policy's imports: they would load the file being proved
        "imports_dropped": sum(r.imports_dropped for r in attempted),
        "pass_at_1": proved / len(attempted) if attempted else 0.0,
        "budget": {
            "time_limit_s": config.time_limit_s,
            "tactic_timeout_s": config.tactic_timeout_s,
        },
        "wall_time_s": round(wall_s, 1),
        "results": [
            {
                "theorem": r.theorem,
                "proved": r.proved,
                "proof": r.proof,
                "time_s": round(r.time_s, 3),
                "status": r.status,
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
            f"{b['tactic_timeout_s']:.0f} s per tactic |"
        )
    return "\n".join(lines)
