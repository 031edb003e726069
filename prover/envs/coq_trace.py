"""Trace Coq source files into (state_before, tactic, state_after) training data.

Each file is replayed sentence by sentence from its source in its own coqidetop process
(its compiled copy is never loaded), asking for the goals after every sentence. Every proof
sentence that is a single tactic (as `check_tactic` accepts it, so the env can run it) becomes
one step. Output follows the LeanDojo Benchmark 4 layout:

    DIR/random/{train,val,test}.json        theorems split by a hash of their full name
    DIR/novel_files/{train,val,test}.json   whole files split by a hash of their path
    DIR/files.jsonl                         one line per file: counts, time, replay error
    DIR/manifest.json                       totals, Coq version, wall time, split fractions

Files every Coq session loads (`Init/`) are always in train: they can never be held out.

Run: springtail trace --backend coq --out datasets/coq_trace [--files 'Arith/*.v']
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import multiprocessing as mp
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prover.envs.base import EnvError
from prover.envs.coq_project import coqlib, stdlib_theories
from prover.envs.coq_source import (
    CoqDocument,
    CoqTheorem,
    TacticSentence,
    check_tactic,
    load_document,
)
from prover.envs.coq_xml import CoqDied, CoqFail, CoqProcess, CoqTimeout, format_goals

SPLIT_FRACTIONS = {"val": 0.05, "test": 0.05}  # the rest is train
_NOT_TACTIC = re.compile(
    r"^(Proof|Focus|Unfocus|Unshelve|Show|Check|Print|Search|Locate|Opaque|Transparent|Hint|"
    r"Local|Global|Set|Unset|Require|Import|Export|Existing|Typeclasses|Arguments|Implicit|"
    r"Ltac|Tactic|Notation|Infer|Eval|Compute|Undo|Restart|Time|Timeout|Fail|Redirect|"
    r"Optimize|Guarded|Create|Remove|Declare|Instance|Definition|Let|Lemma|Theorem)\b"
)


@dataclass(frozen=True)
class TraceConfig:
    sentence_timeout_s: float = 300.0  # one sentence of the original file
    max_memory_mb: int = 8192
    num_workers: int = 2


@dataclass
class FileTrace:
    file_path: str  # relative to coqlib for the stdlib, else as given
    logical_name: str
    is_prelude: bool
    theorems: list[dict] = field(default_factory=list)
    num_sentences: int = 0
    error: str = ""
    time_s: float = 0.0

    @property
    def num_steps(self) -> int:
        return sum(len(t["traced_tactics"]) for t in self.theorems)


def stdlib_files(pattern: str | None = None) -> list[Path]:
    """Standard-library sources matching `pattern` (relative to theories/), sorted."""
    root = stdlib_theories()
    pat = pattern or "**/*.v"
    return sorted(Path(p) for p in glob.glob(str(root / pat), recursive=True) if p.endswith(".v"))


def resolve_files(patterns: Sequence[str] | None) -> list[Path]:
    """Stdlib globs (relative to theories/) or paths/globs of user files."""
    if not patterns:
        return stdlib_files()
    files: list[Path] = []
    for pat in patterns:
        user = sorted(Path(p) for p in glob.glob(pat, recursive=True) if p.endswith(".v"))
        found = user or stdlib_files(pat)
        if not found:
            raise EnvError(
                f"--files {pat!r} matches no .v file (not as a path, nor under {stdlib_theories()})"
            )
        files += found
    return sorted(set(files))


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(coqlib()))
    except ValueError:
        return str(path)


def _as_tactic(code: str) -> TacticSentence | None:
    if _NOT_TACTIC.match(code):
        return None
    checked = check_tactic(code)
    return checked if isinstance(checked, TacticSentence) else None


def trace_file(path: Path, config: TraceConfig = TraceConfig()) -> FileTrace:
    """Replay one file and record the tactic steps of every proof in it."""
    t0 = time.perf_counter()
    try:
        doc = load_document(path)
    except EnvError as e:
        return FileTrace(_display_path(path), "", False, error=str(e))
    out = FileTrace(_display_path(path), doc.ctx.logical_name, doc.ctx.is_prelude)
    owner = {
        i: t for t in doc.theorems if t.ender and t.name for i in (t.index, *t.proof, t.end_index)
    }
    records: dict[int, dict] = {}
    proc = CoqProcess(doc.ctx.ide_args, max_memory_mb=config.max_memory_mb)
    try:
        sid, before = proc.root_state, "no goals"
        for i, sentence in enumerate(doc.sentences):
            new = proc.add(sentence.text, sid)
            goals = new if isinstance(new, CoqFail) else proc.goals(config.sentence_timeout_s)
            if isinstance(goals, CoqFail):
                out.error = f"line {sentence.line}: {goals.message}"
                break
            assert isinstance(new, int)
            after = format_goals(goals)
            thm = owner.get(i)
            if thm is not None:
                rec = records.setdefault(thm.index, _theorem_record(out, doc, thm))
                tac = _as_tactic(sentence.code) if i in thm.proof else None
                if tac is not None:
                    rec["traced_tactics"].append(
                        {
                            "tactic": tac.text,
                            "annotated_tactic": [tac.text, []],
                            "state_before": before,
                            "state_after": after,
                        }
                    )
            sid, before = new, after
            out.num_sentences = i + 1
    except (CoqDied, CoqTimeout) as e:
        out.error = f"Coq stopped after {out.num_sentences} sentences: {e}"
    finally:
        proc.close()
    ok_until = out.num_sentences
    out.theorems = [
        r
        for t in doc.theorems
        if (r := records.get(t.index)) is not None
        and t.ender in ("Qed", "Defined", "Save")
        and t.end_index < ok_until
        and r["traced_tactics"]
    ]
    out.time_s = time.perf_counter() - t0
    return out


def _theorem_record(out: FileTrace, doc: CoqDocument, thm: CoqTheorem) -> dict:
    stmt, end = doc.sentences[thm.index], doc.sentences[thm.end_index]
    col = stmt.start - (doc.text.rfind("\n", 0, stmt.start) + 1)
    end_col = end.end - (doc.text.rfind("\n", 0, end.end) + 1)
    return {
        "url": "coq-stdlib" if not Path(out.file_path).is_absolute() else "local",
        "commit": coq_version(),
        "file_path": out.file_path,
        "full_name": f"{out.logical_name}.{thm.qualified_name}",  # kernel name: modules too
        "theorem": thm.qualified_name,  # unique in its file (what `env.open` takes)
        "start": [stmt.line, col + 1],
        "end": [end.line, end_col + 1],
        "traced_tactics": [],
    }


@functools.cache
def coq_version() -> str:
    out = subprocess.run(["coqc", "--print-version"], capture_output=True, text=True)
    return out.stdout.split()[0] if out.returncode == 0 and out.stdout else "unknown"


def split_of(key: str) -> str:
    """Deterministic split from a hash of `key` (a theorem name or a file path)."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    if h < SPLIT_FRACTIONS["test"]:
        return "test"
    if h < SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["val"]:
        return "val"
    return "train"


def write_splits(traces: Iterable[FileTrace], out_dir: Path) -> dict[str, dict[str, int]]:
    """Write both split strategies; returns theorem counts per strategy and split."""
    splits: dict[str, dict[str, list[dict]]] = {
        s: {"train": [], "val": [], "test": []} for s in ("random", "novel_files")
    }
    for ft in traces:
        file_split = "train" if ft.is_prelude else split_of(ft.file_path)
        for rec in ft.theorems:
            splits["novel_files"][file_split].append(rec)
            # Prelude theorems are loaded by every session, so they are train in both.
            splits["random"]["train" if ft.is_prelude else split_of(rec["full_name"])].append(rec)
    counts: dict[str, dict[str, int]] = {}
    for strategy, parts in splits.items():
        (out_dir / strategy).mkdir(parents=True, exist_ok=True)
        counts[strategy] = {}
        for name, recs in parts.items():
            (out_dir / strategy / f"{name}.json").write_text(json.dumps(recs))
            counts[strategy][name] = len(recs)
    return counts


def _trace_one(args: tuple[Path, TraceConfig]) -> FileTrace:
    return trace_file(*args)


def trace(
    files: Sequence[Path],
    out_dir: Path,
    config: TraceConfig = TraceConfig(),
    log: Callable[[str], None] = print,
) -> dict:
    """Trace `files` (in parallel) into `out_dir`; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    traces: list[FileTrace] = []
    jobs = [(f, config) for f in files]
    with (out_dir / "files.jsonl").open("w") as fh:
        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, config.num_workers)) as pool:
            for k, ft in enumerate(pool.imap_unordered(_trace_one, jobs), 1):
                traces.append(ft)
                row = {key: v for key, v in asdict(ft).items() if key != "theorems"}
                row.update(num_theorems=len(ft.theorems), num_steps=ft.num_steps)
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                status = f"ERROR {ft.error[:120]}" if ft.error else "ok"
                log(
                    f"[{k}/{len(files)}] {ft.file_path}: {len(ft.theorems)} theorems, "
                    f"{ft.num_steps} steps, {ft.time_s:.1f}s {status}"
                )
    traces.sort(key=lambda t: t.file_path)
    counts = write_splits(traces, out_dir)
    manifest = {
        "backend": "coq",
        "coq_version": coq_version(),
        "num_files": len(traces),
        "num_files_with_errors": sum(1 for t in traces if t.error),
        "num_theorems": sum(len(t.theorems) for t in traces),
        "num_steps": sum(t.num_steps for t in traces),
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "split_fractions": SPLIT_FRACTIONS,
        "splits": counts,
        "command": " ".join(sys.argv),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
