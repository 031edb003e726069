"""miniF2F on Coq (miniF2F-rocq): pass@1 of a policy, one theorem per `.v` file.

Each file of the folder (`--data DIR`, default `../shared/data/minif2f_coq/SPLIT`) holds its
imports and `Theorem NAME : ...` with the proof `Admitted` (ignored): the theorem is opened in
the file's own context, searched, and a found proof is re-checked from scratch like every
other Coq proof (`coqc` on a file we write, a separate audit process, `coqchk`), with the
axiom allowance (`prover.envs.coq_axioms`, `classical` by default: the standard library's
real-number and classical-logic axioms, by kernel name; nothing else). A file that does not
compile, or does not state `NAME`, is counted as `discarded`, apart from failures. Only the
`valid` split is shipped; for `test`, point `--data` at a checkout of miniF2F-rocq's `test/`.

Run: springtail eval minif2f --backend coq --split valid --policy portfolio --limit 20
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from eval.coq_split import evaluate_theorems
from eval.summary import EvalConfig
from prover.data import Theorem, statement_files
from prover.envs.coq_axioms import axiom_set
from prover.episodes import EpisodeResult
from prover.policies import TacticPolicy
from prover.pool import PoolConfig
from prover.replay import ReplayStore

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT.parent / "shared/data/minif2f_coq"
BENCHMARK = "minif2f-coq"
UPSTREAM = "https://github.com/LLM4Rocq/miniF2F-rocq"


def data_folder(data: str | Path | None, split: str) -> Path:
    """The folder of `split`'s files: `data` when given, else the shared copy (valid only)."""
    if split not in ("valid", "test"):
        raise ValueError(f"miniF2F split must be valid or test, got {split!r}")
    if data is not None:
        return Path(data)
    folder = DATA_ROOT / split
    if not folder.is_dir():
        shipped = "only valid is shipped in ../shared/data/minif2f_coq; " if split == "test" else ""
        raise FileNotFoundError(
            f"{folder} not found: {shipped}pass --data DIR, a folder of miniF2F-Coq files "
            f"(e.g. a checkout of {UPSTREAM}'s {split}/)"
        )
    return folder


def load_theorems(data: str | Path | None, split: str) -> list[Theorem]:
    """The theorems of the split's folder, in hash order (`prover.data.statement_files`)."""
    return statement_files(data_folder(data, split))


def evaluate(
    theorems: list[Theorem],
    policy: TacticPolicy,
    config: EvalConfig,
    log: Callable[[str], None] | None = None,
    *,
    allow_axioms: str = "classical",
    store: ReplayStore | None = None,
    pool: PoolConfig | None = None,
    run: str | None = None,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
) -> dict[str, Any]:
    """pass@1 of `policy` on `theorems` (files of `load_theorems`); the JSON summary of
    `eval coq` plus `benchmark` and the axiom allowance (`allowed_axioms`)."""
    allowed = axiom_set(allow_axioms)
    summary = evaluate_theorems(
        theorems,
        policy,
        config,
        log,
        desc=f"{policy.name} minif2f-coq {config.split}",
        allowed_axioms=allowed,
        store=store,
        pool=pool,
        run=run,
        done=done,
    )
    return {
        "benchmark": BENCHMARK,
        **summary,
        "allowed_axioms": {"set": allow_axioms, "names": list(allowed)},
    }
