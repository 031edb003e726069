"""Trace Coq source files into (state_before, tactic, state_after) training data.

Each file is replayed sentence by sentence from its source in its own coqidetop process
(its compiled copy is never loaded), asking for the goals after every sentence. Every proof
sentence that is a single tactic (as `check_tactic` accepts it, so the env can run it) becomes
one step. Output follows the LeanDojo Benchmark 4 layout:

    DIR/random/{train,val,test}.json        theorems split by a hash of their full name
    DIR/novel_files/{train,val,test}.json   whole files split by a hash of their path
    DIR/files.jsonl                         one line per file: counts, time, replay error
    DIR/manifest.json                       format version, totals, Coq version, wall time,
                                            split fractions, the held-out closure

Held-out protocol (format 2): a file is always in train, in both strategies, when every Coq
session loads it (`Init/`) or when the policies' imports load it (`held_out_imports`, by
default `POLICY_IMPORTS`, plus what a generated tactic library loads,
`coq_library.LIBRARY_REQUIRES`): its Require closure as Coq reports it (`coq_closure`).
Proving a theorem of such a file with those imports would load the file's own compiled copy,
which the env refuses, so the episode would drop the imports (`imports_dropped`) and measure
the policy without its tactics. So every held-out theorem can be attempted with them.
The manifest records the closure (`held_out_closure`) and `format_version`
(`TRACE_FORMAT_VERSION`); `prover.data.check_trace` refuses traces of an older format.

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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prover.envs.base import EnvError
from prover.envs.coq_closure import ImportClosure, import_closure
from prover.envs.coq_library import LIBRARY_REQUIRES
from prover.envs.coq_project import display_path, stdlib_theories
from prover.envs.coq_source import (
    CoqDocument,
    CoqTheorem,
    TacticSentence,
    check_tactic,
    load_document,
)
from prover.envs.coq_xml import CoqDied, CoqFail, CoqProcess, CoqTimeout, format_goals

SPLIT_FRACTIONS = {"val": 0.05, "test": 0.05}  # the rest is train
# 1: no format_version in the manifest; 2: files the held-out imports load are train.
TRACE_FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
STRATEGIES = ("random", "novel_files")  # DIR/STRATEGY/{train,val,test}.json
# What the Coq policies import (policies live a layer above, so the list lives here; each
# Coq policy's `imports` must be among it): no held-out theorem's file is loaded by them.
POLICY_IMPORTS = ("From Coq Require Import Lia.", "From Hammer Require Import Hammer Tactics.")
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
        return FileTrace(display_path(path), "", False, error=str(e))
    out = FileTrace(display_path(path), doc.ctx.logical_name, doc.ctx.is_prelude)
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


def write_splits(
    traces: Iterable[FileTrace], out_dir: Path, train_files: Collection[str] = frozenset()
) -> dict[str, dict[str, int]]:
    """Write both split strategies, with the files in `train_files` (as `file_path` names
    them: the held-out closure) and the prelude in train; returns theorem counts per
    strategy and split."""
    splits: dict[str, dict[str, list[dict]]] = {
        s: {"train": [], "val": [], "test": []} for s in STRATEGIES
    }
    for ft in traces:
        # The prelude is loaded by every session, a closure file by the policies' imports:
        # with them, proving a theorem of either would load its own file's compiled copy,
        # so it is never held out. In random too: the imports load the file, whatever the
        # hash of the theorem's name.
        is_train = ft.is_prelude or ft.file_path in train_files
        file_split = "train" if is_train else split_of(ft.file_path)
        for rec in ft.theorems:
            splits["novel_files"][file_split].append(rec)
            splits["random"]["train" if is_train else split_of(rec["full_name"])].append(rec)
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
    held_out_imports: Sequence[str] = POLICY_IMPORTS,
) -> dict:
    """Trace `files` (in parallel) into `out_dir`, keeping every file `held_out_imports`
    load in train (see the module docstring); returns the manifest."""
    t0 = time.perf_counter()
    # First, so that an import Coq rejects (CoqHammer missing) stops us before any tracing.
    closure = import_closure(list(dict.fromkeys((*held_out_imports, *LIBRARY_REQUIRES))))
    out_dir.mkdir(parents=True, exist_ok=True)
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
    counts = write_splits(traces, out_dir, set(closure.files))
    manifest = {
        "format_version": TRACE_FORMAT_VERSION,
        "backend": "coq",
        "coq_version": coq_version(),
        "num_files": len(traces),
        "num_files_with_errors": sum(1 for t in traces if t.error),
        "num_theorems": sum(len(t.theorems) for t in traces),
        "num_steps": sum(t.num_steps for t in traces),
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "split_fractions": SPLIT_FRACTIONS,
        "splits": counts,
        "held_out_closure": _closure_summary(closure, traces),
        "command": " ".join(sys.argv),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return manifest


def _closure_summary(closure: ImportClosure, traces: Sequence[FileTrace]) -> dict:
    """The closure, with how many traced files it keeps in train (the prelude apart) and
    how many of those the hash of their path would have held out of novel_files/train."""
    in_closure = set(closure.files)
    kept = [t.file_path for t in traces if t.file_path in in_closure and not t.is_prelude]
    return {
        **closure.to_json(),
        "num_traced_files": len(kept),
        "num_files_moved_to_train": sum(split_of(path) != "train" for path in kept),
    }
