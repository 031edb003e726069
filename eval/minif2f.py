"""miniF2F (Lean 4) pass@1 through the Lean REPL backend.

Statements come from a JSONL file with `name`, `split` (valid | test), `header` and
`formal_statement` (ending in `:= by`): by default `../shared/data/minif2f/
minif2f_lean4.24_yangky11.jsonl` (the corrected statements for Lean v4.24.0, the toolchain of
`lean_project/`; public at github.com/yangky11/miniF2F-lean4). Each statement is written as a
file `header + statement + sorry` under `lean_project/.minif2f/`, opened in the REPL, searched
and, when the search finds a proof, re-checked as a whole file with its axioms audited. A
statement the REPL cannot elaborate counts as `discarded`, apart from failures.

Run: springtail eval minif2f --split valid --policy portfolio --limit 20 --json out.json
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval.coq_split import EvalConfig, summarize
from prover.envs import BackendUnavailable, EnvError, ProofEnv
from prover.policy import TacticPolicy
from prover.prove import ProveResult, prove_theorem
from prover.search import SearchConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared/data/minif2f/minif2f_lean4.24_yangky11.jsonl"
WORK_DIR = REPO_ROOT / "lean_project" / ".minif2f"


def load_statements(path: str | Path | None, split: str) -> list[dict[str, Any]]:
    """The statements of `split`, in file order."""
    if split not in ("valid", "test"):
        raise ValueError(f"miniF2F split must be valid or test, got {split!r}")
    p = Path(path) if path is not None else DEFAULT_DATA
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} not found: pass --data FILE, a JSONL of miniF2F statements (name, split, "
            "header, formal_statement), e.g. from github.com/yangky11/miniF2F-lean4"
        )
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            _ = row["name"], row["formal_statement"], row["split"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{p}:{n}: not a miniF2F statement ({e})") from None
        if row["split"] == split:
            rows.append(row)
    if not rows:
        raise ValueError(f"{p} holds no statements of split {split!r}")
    return rows


def statement_file(row: dict[str, Any], work_dir: Path = WORK_DIR) -> Path:
    """Write `header + formal_statement + sorry` as a Lean file; returns its path."""
    statement = row["formal_statement"].rstrip()
    if not statement.endswith(":= by"):
        statement = statement.removesuffix(":=").rstrip() + " := by"
    path = work_dir / row["split"] / f"{row['name']}.lean"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{row.get('header', '')}{statement}\n  sorry\n", encoding="utf-8")
    return path


def evaluate(
    rows: list[dict[str, Any]],
    policy: TacticPolicy,
    config: EvalConfig,
    env: ProofEnv,
    log: Callable[[str], None] | None = None,
    work_dir: Path = WORK_DIR,
) -> dict[str, Any]:
    """pass@1 of `policy` on `rows` in `env` (a Lean REPL env); the JSON-ready summary."""
    search = SearchConfig(time_limit_s=config.time_limit_s, batch_size=config.batch_size)
    results: list[ProveResult] = []
    t0 = time.perf_counter()
    bar = tqdm(total=len(rows), desc=f"{policy.name} minif2f {config.split}", file=sys.stderr)
    for row in rows:
        file = statement_file(row, work_dir)
        try:
            r = prove_theorem(env, policy, file=file, theorem=row["name"], config=search)
        except BackendUnavailable:
            raise  # a missing toolchain is not a theorem's failure
        except EnvError as e:
            r = ProveResult(row["name"], False, [], 0.0, status="discarded", reason=str(e))
        results.append(r)
        proved = sum(x.proved for x in results)
        attempted = sum(x.status != "discarded" for x in results)
        bar.update(1)
        bar.set_postfix(proved=f"{proved}/{attempted}", rate=f"{proved / max(attempted, 1):.1%}")
        if log is not None:
            log(f"{row['name']}: {r.status} ({r.time_s:.1f}s) | proved {proved}/{attempted}")
    bar.close()
    return summarize(config, policy.name, results, time.perf_counter() - t0)
