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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from prover.envs import BackendUnavailable, EnvError, get_env
from prover.envs.coq_project import coqlib
from prover.policy import TacticPolicy
from prover.prove import ProveResult, prove_theorem
from prover.replay import ReplayStore, TheoremRecorder
from prover.search import SearchConfig


@dataclass(frozen=True)
class EvalConfig:
    split: str = "novel_files/test"
    limit: int | None = None
    time_limit_s: float = 60.0  # search wall time per theorem
    tactic_timeout_s: float = 5.0
    batch_size: int = 1  # open nodes per policy call (a model policy batches them)


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
    log: Callable[[str], None] | None = None,
    *,
    theorems: list[tuple[Path, str, str]] | None = None,
    store: ReplayStore | None = None,
    round: int = 0,
) -> dict:
    """Run the policy on the split (or on `theorems`); returns the JSON-ready summary with
    per-theorem results. With `store`, every tactic outcome and every verified proof is
    recorded there (one transaction per theorem), tagged with `round` and the policy's
    model version."""
    if theorems is None:
        theorems = split_theorems(data_dir, config.split)[: config.limit]
    search = SearchConfig(time_limit_s=config.time_limit_s, batch_size=config.batch_size)
    version = str(getattr(policy, "version", policy.name))
    live = LiveRate(len(theorems), f"{policy.name} {config.split}", log)
    with get_env("coq", tactic_timeout=config.tactic_timeout_s) as env:
        for file, name, full_name in theorems:
            recorder = None
            if store is not None:
                recorder = TheoremRecorder(store, name, str(file), version, round)
            try:
                r = prove_theorem(
                    env,
                    policy,
                    file=file,
                    theorem=name,
                    config=search,
                    allow_original_axioms=True,
                    on_outcome=recorder,
                )
            except BackendUnavailable:
                raise  # a missing toolchain is not a theorem's failure
            except EnvError as e:
                r = ProveResult(name, False, [], 0.0, status="discarded", reason=str(e))
            if recorder is not None:
                recorder.commit(r)
            live.add(full_name, r)
    return summarize(config, policy.name, live.close(), live.wall_s)


class LiveRate:
    """Per-theorem results with a progress bar showing the live prove rate, and an optional
    line per theorem."""

    def __init__(self, total: int, desc: str, log: Callable[[str], None] | None) -> None:
        self.bar = tqdm(total=total, desc=desc, file=sys.stderr)
        self.log = log
        self.results: list[ProveResult] = []
        self.t0 = time.perf_counter()
        self.wall_s = 0.0

    def add(self, label: str, r: ProveResult) -> None:
        self.results.append(r)
        proved = sum(x.proved for x in self.results)
        attempted = sum(x.status != "discarded" for x in self.results)
        rate = f"{proved / max(attempted, 1):.1%}"
        self.bar.update(1)
        self.bar.set_postfix(proved=f"{proved}/{attempted}", rate=rate)
        if self.log is not None:
            self.log(
                f"{label}: {r.status} ({r.time_s:.1f}s) | proved {proved}/{attempted} = {rate}"
            )

    def close(self) -> list[ProveResult]:
        self.bar.close()
        self.wall_s = time.perf_counter() - self.t0
        return self.results


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
        "search": search_totals(results),
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


def search_totals(results: list[ProveResult]) -> dict:
    """Tactic calls per second and the share of search time in policy / env / overhead."""
    keys = ("tactic_calls", "policy_s", "env_s", "overhead_s")
    tot = {k: sum(r.search.get(k, 0) for r in results) for k in keys}
    wall = tot["policy_s"] + tot["env_s"] + tot["overhead_s"]
    return {
        **{k: round(v, 3) for k, v in tot.items()},
        "calls_per_s": round(tot["tactic_calls"] / wall, 2) if wall else 0.0,
        "share": {
            k[:-2]: round(tot[k] / wall, 4) if wall else 0.0
            for k in ("policy_s", "env_s", "overhead_s")
        },
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
