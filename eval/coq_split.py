"""Evaluate a policy on a split of a Coq trace (e.g. `novel_files/test`): pass@1 under a budget.

Theorems are ordered by a hash of their full name (as ReProver does), so `--limit K` takes a
fixed, unbiased sample. Every theorem goes through the episode driver
(`prover.episodes.run_theorems`): theorems that cannot be opened are counted as `discarded`,
apart from failures; each proof is re-checked from scratch by `env.verify`; for stdlib lemmas
whose own proof relies on library axioms, exactly those axioms are allowed and no others.

Run: springtail eval coq --split novel_files/test --policy portfolio --limit 50 --json out.json
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.summary import EvalConfig, summarize
from prover.data import Theorem, split_theorems
from prover.envs import get_env
from prover.episodes import EpisodeResult
from prover.policies import TacticPolicy
from prover.pool import PoolConfig, run_episodes
from prover.replay import ReplayRecorder, ReplayStore


def evaluate(
    data_dir: Path,
    policy: TacticPolicy,
    config: EvalConfig,
    log: Callable[[str], None] | None = None,
    *,
    theorems: list[Theorem] | None = None,
    store: ReplayStore | None = None,
    pool: PoolConfig | None = None,
    run: str | None = None,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
) -> dict[str, Any]:
    """Run the policy on the split (or on `theorems`); returns the JSON-ready summary with
    per-theorem results. With `store`, every tactic outcome and every verified proof is
    recorded there, tagged with the policy's version (and, with `run`, each finished theorem,
    so the run can resume: `done` holds the results it recorded before). `pool`: on Ray
    workers (`prover.pool`); None runs in this process."""
    if theorems is None:
        theorems = split_theorems(data_dir, config.split)[: config.limit]
    return evaluate_theorems(
        theorems,
        policy,
        config,
        log,
        desc=f"{policy.name} {config.split}",
        store=store,
        pool=pool,
        run=run,
        done=done,
    )


def evaluate_theorems(
    theorems: list[Theorem],
    policy: TacticPolicy,
    config: EvalConfig,
    log: Callable[[str], None] | None,
    *,
    desc: str,
    allowed_axioms: Sequence[str] = (),
    store: ReplayStore | None = None,
    pool: PoolConfig | None = None,
    run: str | None = None,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
) -> dict[str, Any]:
    """`theorems` on Coq envs with the config's library: the summary. With `allowed_axioms`
    (a benchmark's named allowance) exactly those axioms are allowed; without, each theorem
    the axioms its own proof uses (`allow_original_axioms`)."""
    recorder = ReplayRecorder(store, policy.version, run=run) if store is not None else None
    options: dict[str, object] = {"library": config.library} if config.library else {}
    if allowed_axioms:
        options["allowed_axioms"] = tuple(allowed_axioms)
    make_env = functools.partial(get_env, "coq", tactic_timeout=config.tactic_timeout, **options)
    results, wall_s = run_episodes(
        make_env,
        policy,
        theorems,
        config.search(),
        recorder,
        pool=pool,
        desc=desc,
        log=log,
        allow_original_axioms=not allowed_axioms,
        done=done,
    )
    settings = getattr(policy, "settings", None)
    return summarize(config, policy.name, results, wall_s, settings, policy.version)
