"""miniF2F (Lean 4) pass@1 through the Lean REPL backend.

Statements come from (1) `--data FILE`, a JSONL with `name`, `split` (valid | test),
`header` and `formal_statement` (ending in `:= by`); (2) `--data DIR`, a checkout of
github.com/yangky11/miniF2F-lean4 (`MiniF2F/{Valid,Test}/NAME.lean`, each `header + theorem
... := by sorry`); (3) by default `../shared/data/minif2f/minif2f_lean4.24_yangky11.jsonl` (the
corrected statements for Lean v4.24.0, the toolchain of `lean_project/`), or, when that is
absent, a checkout of the upstream repository at `UPSTREAM_COMMIT` cloned into
`datasets/miniF2F-lean4` (needs git and network; say `--data` otherwise). Each statement is
written as a file `header + statement + sorry` under `lean_project/.minif2f/`, opened in the
REPL, searched and, when the search finds a proof, re-checked as a whole file with its axioms
audited. A statement the REPL cannot elaborate counts as `discarded`, apart from failures.

Run: springtail eval minif2f --split valid --policy portfolio --limit 20 --json out.json
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from eval.summary import EvalConfig, summarize
from prover.data import Theorem
from prover.envs import ProofEnv
from prover.episodes import EpisodeResult, run_all
from prover.policies import TacticPolicy
from prover.pool import PoolConfig, run_episodes
from prover.replay import ReplayRecorder, ReplayStore

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared/data/minif2f/minif2f_lean4.24_yangky11.jsonl"
WORK_DIR = REPO_ROOT / "lean_project" / ".minif2f"
UPSTREAM = "https://github.com/yangky11/miniF2F-lean4"
UPSTREAM_COMMIT = "5746b7d6c47855ce1294bed87329618ff7f1bc31"  # the shared copy's commit
DOWNLOAD_DIR = REPO_ROOT / "datasets" / "miniF2F-lean4"
_THEOREM_RE = re.compile(r"^theorem\s", re.M)


def load_statements(path: str | Path | None, split: str) -> list[dict[str, Any]]:
    """The statements of `split`, in file order (see the module docstring for sources)."""
    if split not in ("valid", "test"):
        raise ValueError(f"miniF2F split must be valid or test, got {split!r}")
    if path is None:
        p = DEFAULT_DATA if DEFAULT_DATA.is_file() else download()
    else:
        p = Path(path)
    if p.is_dir():
        rows = _from_checkout(p, split)
    elif p.is_file():
        rows = _from_jsonl(p, split)
    else:
        raise FileNotFoundError(
            f"{p} not found: pass --data FILE (a JSONL of miniF2F statements: name, split, "
            f"header, formal_statement) or --data DIR (a checkout of {UPSTREAM})"
        )
    if not rows:
        raise ValueError(f"{p} holds no statements of split {split!r}")
    return rows


def _from_jsonl(p: Path, split: str) -> list[dict[str, Any]]:
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
    return rows


def _from_checkout(root: Path, split: str) -> list[dict[str, Any]]:
    """Rows from `ROOT/MiniF2F/{Valid,Test}/*.lean`: header before `theorem`, statement up to
    its `:= by`."""
    folder = root / "MiniF2F" / split.capitalize()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: is {root} a checkout of {UPSTREAM}?")
    rows = []
    for file in sorted(folder.glob("*.lean")):
        text = file.read_text(encoding="utf-8")
        m = _THEOREM_RE.search(text)
        cut = text.rfind(":= by")
        if m is None or cut < m.start():
            raise ValueError(f"{file}: expected `theorem ... := by sorry`")
        statement = text[m.start() : cut + len(":= by")] + "\n"
        rows.append(
            {
                "name": file.stem,
                "split": split,
                "header": text[: m.start()],
                "formal_statement": statement,
            }
        )
    return rows


def download(dest: Path | None = None) -> Path:
    """Clone the upstream statements at `UPSTREAM_COMMIT` into `dest` (default
    `datasets/miniF2F-lean4`), once."""
    dest = dest or DOWNLOAD_DIR
    if (dest / "MiniF2F").is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    steps = [
        ["git", "init", "-q", str(tmp)],
        ["git", "-C", str(tmp), "fetch", "-q", "--depth", "1", UPSTREAM, UPSTREAM_COMMIT],
        ["git", "-C", str(tmp), "checkout", "-q", "FETCH_HEAD"],
    ]
    try:
        for cmd in steps:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as e:
        detail = " ".join((getattr(e, "stderr", "") or str(e)).split())
        raise FileNotFoundError(
            f"no miniF2F statements: {DEFAULT_DATA} is absent and cloning {UPSTREAM} failed "
            f"({detail.strip()[:200]}); pass --data FILE or --data DIR"
        ) from None
    tmp.rename(dest)
    return dest


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
    env: ProofEnv | Callable[[], ProofEnv],
    log: Callable[[str], None] | None = None,
    work_dir: Path = WORK_DIR,
    *,
    store: ReplayStore | None = None,
    pool: PoolConfig | None = None,
    run: str | None = None,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
) -> dict[str, Any]:
    """pass@1 of `policy` on `rows`; the JSON-ready summary. `env`: a Lean REPL env to run in
    this process, or a picklable callable making one (in each Ray worker of `pool`; in this
    process without a pool). With `store`, outcomes and verified proofs are recorded as for
    Coq (with `run`, each finished theorem too: `done` holds those of the interrupted run)."""
    theorems = [Theorem(statement_file(row, work_dir), row["name"]) for row in rows]
    recorder = ReplayRecorder(store, policy.version, run=run) if store is not None else None
    desc = f"{policy.name} minif2f {config.split}"
    if not callable(env):  # an env, not a recipe for one
        if pool is not None:
            raise ValueError("Ray workers build their own env: pass a callable that makes one")
        results, wall_s = run_all(
            env, policy, theorems, config.search(), recorder, desc=desc, log=log
        )
    else:
        results, wall_s = run_episodes(
            env,
            policy,
            theorems,
            config.search(),
            recorder,
            pool=pool,
            desc=desc,
            log=log,
            done=done,
        )
    return summarize(config, policy.name, results, wall_s, version=policy.version)
