"""The replay store: every checked tactic outcome and every verified proof, in one SQLite file.

Tables (schema version in `PRAGMA user_version`, upgraded in place by `MIGRATIONS`):
- `outcomes`: theorem, file, state, tactic, kind (progress | proved | failed | timeout), new
  state, error text, seconds, model version, round, time of recording, and (v2) the
  candidate's source (`Candidate.source`: closer, knn, model, library, hammer, or '');
- `proofs`: theorem, file, tactics (JSON list), the (state, tactic) steps along the proof,
  axioms, seconds, model version, round; unique per (file, theorem, tactics). Only proofs that
  `env.verify` accepted are stored here;
- `episodes` (v3): for a named run (an `eval --out` folder, a loop round's search), each
  finished theorem with its result (JSON); unique per (run, file, theorem).

Crash safety: the file is in WAL mode with `synchronous=NORMAL`; each `record_outcomes` /
`add_proof` / `record_episode` call is one transaction, so a killed process leaves every
committed row intact and no half-written batch (a power cut may lose the last commits, never
the database). `record_episode` writes a theorem's outcomes, proof and episode row together,
and nothing when the run already has that theorem: so outcomes are recorded exactly once per
finished theorem, whoever retries or resumes.

Bad files: an existing file is inspected read-only (SQLite header, `user_version`, the tables
of that schema version) before anything writes to it, so a file written by a newer Springtail,
or one that is not a replay store, is refused with `ReplayError` and left byte-for-byte
untouched (no -wal/-shm files either). A damaged database gives `ReplayError` too, also when
the damage only shows on a later query.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import stat
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from prover.data import TacticStep, Theorem
from prover.envs.base import Failed, Progress, ProofState, Proved, StepResult, TimedOut
from prover.episodes import EpisodeResult
from prover.policies.base import tactic_key

SCHEMA_VERSION = 3
KINDS = ("progress", "proved", "failed", "timeout")
P = ParamSpec("P")
R = TypeVar("R")

# MIGRATIONS[v] upgrades a database at version v to v + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        theorem TEXT NOT NULL,
        file TEXT NOT NULL,
        state TEXT NOT NULL,
        tactic TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('progress', 'proved', 'failed', 'timeout')),
        new_state TEXT,
        error TEXT,
        time_s REAL NOT NULL,
        model_version TEXT NOT NULL,
        round INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX outcomes_theorem ON outcomes (file, theorem);
    CREATE TABLE proofs (
        id INTEGER PRIMARY KEY,
        theorem TEXT NOT NULL,
        file TEXT NOT NULL,
        tactics TEXT NOT NULL,
        steps TEXT NOT NULL,
        axioms TEXT NOT NULL,
        time_s REAL NOT NULL,
        model_version TEXT NOT NULL,
        round INTEGER NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (file, theorem, tactics)
    );
    """,
    # v2: which part of a hybrid policy proposed each tactic ('' before v2 and for policies
    # with one source)
    """
    ALTER TABLE outcomes ADD COLUMN source TEXT NOT NULL DEFAULT '';
    """,
    # v3: the finished theorems of a named run (`ReplayRecorder(run=...)`), written in the same
    # transaction as their outcomes and proof, so a run killed and started again skips exactly
    # the theorems whose rows are in (none is recorded twice)
    """
    CREATE TABLE episodes (
        id INTEGER PRIMARY KEY,
        run TEXT NOT NULL,
        theorem TEXT NOT NULL,
        file TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (run, file, theorem)
    );
    """,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


class ReplayError(ValueError):
    """The file cannot be used as a replay store (newer schema, not SQLite, not ours, damaged)."""


SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database
HEADER_BYTES = 100


def _connect(path: Path, query: str) -> sqlite3.Connection:
    """A connection through a URI (percent-encoded, so any file name works)."""
    uri = f"{path.resolve().as_uri()}?{query}"
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)


def _damaged(path: Path, e: sqlite3.DatabaseError) -> ReplayError:
    """The one message for an SQLite failure at the store's boundary."""
    if getattr(e, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return ReplayError(
            f"{path} is damaged or not a replay store ({e}): restore it from a copy or pass "
            "another path"
        )
    return ReplayError(f"replay store {path} failed: {e}")


@functools.cache
def _expected_tables(version: int) -> frozenset[str]:
    """The tables a store at schema `version` has: the migrations run on an empty database."""
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS[:version]:
        conn.executescript(migration)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    return frozenset(t for t in tables if not t.startswith("sqlite_"))


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of a replay store (or empty database) this Springtail can use;
    ReplayError for a newer store or a file that is not ours. Only reads."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    tables = frozenset(r[0] for r in rows if not r[0].startswith("sqlite_"))
    if version > SCHEMA_VERSION and _expected_tables(SCHEMA_VERSION) <= tables:
        raise ReplayError(
            f"{path} has replay schema v{version}, newer than this Springtail "
            f"(v{SCHEMA_VERSION}): upgrade Springtail to read it (the file was left as it is)"
        )
    if app_id != 0 or not 0 <= version <= SCHEMA_VERSION or tables != _expected_tables(version):
        found = ", ".join(sorted(tables)) or "none"
        raise ReplayError(
            f"{path} is an SQLite file but not a replay store (user_version {version}, "
            f"application_id {app_id}, tables: {found}): pass another path (the file was left "
            "as it is)"
        )
    return version


def _guarded_check(conn: sqlite3.Connection, path: Path) -> int:
    try:
        return _check(conn, path)
    except sqlite3.DatabaseError as e:
        raise _damaged(path, e) from None


def _inspect(path: Path) -> None:
    """Refuse an existing file that is not a usable replay store, by reading it only: the
    file type, the SQLite header, then `_check` on an immutable connection (which writes
    nothing, not even -wal/-shm files). Only a missing path is a new store: an empty file
    was not made by a store (the first open writes the schema version), so it is refused."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise ReplayError(f"cannot read replay store {path}: {e}") from None
    if not stat.S_ISREG(mode):
        raise ReplayError(f"{path} is not a regular file: pass the path of a replay store")
    try:
        with path.open("rb") as f:
            header = f.read(HEADER_BYTES)
    except OSError as e:
        raise ReplayError(f"cannot read replay store {path}: {e.strerror}") from None
    if not header:
        raise ReplayError(
            f"{path} is an empty file, not a replay store: remove it, or pass another path "
            "(the file was left as it is)"
        )
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise ReplayError(
            f"{path} is not a replay store (not an SQLite database): pass another path (the "
            "file was left as it is)"
        )
    conn = _connect(path, "mode=ro&immutable=1")
    try:
        _guarded_check(conn, path)
    finally:
        conn.close()


def _guard(
    method: Callable[Concatenate[ReplayStore, P], R],
) -> Callable[Concatenate[ReplayStore, P], R]:
    """Turn an SQLite failure inside a store method into ReplayError (a damaged page may only
    show when a query reaches it)."""

    @functools.wraps(method)
    def wrapper(self: ReplayStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, e) from None

    return wrapper


@dataclass(frozen=True)
class _ProofRow:
    theorem: str
    file: str
    tactics: Sequence[str]
    steps: Sequence[tuple[str, str]]
    axioms: Sequence[str]
    time_s: float
    model_version: str
    round: int


@dataclass(frozen=True)
class Outcome:
    theorem: str
    file: str
    state: str
    tactic: str
    kind: str
    new_state: str | None
    error: str | None
    time_s: float
    model_version: str
    round: int
    source: str = ""

    @classmethod
    def from_step(
        cls,
        theorem: str,
        file: str,
        state: str,
        tactic: str,
        result: StepResult,
        time_s: float,
        model_version: str,
        round: int,
        source: str = "",
    ) -> Outcome:
        new_state = error = None
        if isinstance(result, Progress):
            kind, new_state = "progress", result.state.text
        elif isinstance(result, Proved):
            kind = "proved"
        elif isinstance(result, TimedOut):
            kind, error = "timeout", f"timed out after {result.timeout_s:g}s"
        elif isinstance(result, Failed):
            kind, error = "failed", result.message
        else:
            raise TypeError(f"not a step result: {result!r}")
        return cls(
            theorem,
            file,
            state,
            tactic,
            kind,
            new_state,
            error,
            time_s,
            model_version,
            round,
            source,
        )


class ReplayStore:
    """One replay SQLite file. Use as a context manager; safe to reopen after a crash.

    Opening inspects an existing file read-only (`_inspect`) before anything can write to it;
    every later SQLite failure surfaces as `ReplayError`."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise FileNotFoundError(f"replay store {self.path} does not exist")
        _inspect(self.path)  # refuses foreign, newer and damaged files before any write
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = _connect(self.path, "mode=ro" if readonly else "mode=rwc")
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, e) from None
        try:
            self._open(readonly)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, readonly: bool) -> None:
        # Checked again on the real connection: in WAL mode the -wal file may hold newer pages
        # than the main file `_inspect` read.
        version = _guarded_check(self.conn, self.path)
        if readonly and version < SCHEMA_VERSION:
            raise ReplayError(
                f"{self.path} has replay schema v{version}: open it writable once to upgrade "
                f"it to v{SCHEMA_VERSION}"
            )
        if not readonly:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate(version)
            except sqlite3.DatabaseError as e:
                raise _damaged(self.path, e) from None

    def _migrate(self, version: int) -> None:
        for v in range(version, SCHEMA_VERSION):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {v + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    # --- writing ---

    @_guard
    def record_outcomes(self, outcomes: Iterable[Outcome]) -> int:
        """Append outcomes in one transaction; returns how many."""
        with self._transaction():
            return self._insert_outcomes(outcomes)

    @_guard
    def add_proof(
        self,
        *,
        theorem: str,
        file: str,
        tactics: Sequence[str],
        steps: Sequence[tuple[str, str]],
        axioms: Sequence[str] = (),
        time_s: float = 0.0,
        model_version: str = "",
        round: int = 0,
    ) -> bool:
        """Store a verified proof; False when this exact proof was stored before."""
        proof = _ProofRow(theorem, file, tactics, steps, axioms, time_s, model_version, round)
        with self._transaction():
            return self._insert_proof(proof)

    @_guard
    def record_episode(
        self,
        run: str | None,
        result: EpisodeResult,
        file: str,
        outcomes: Iterable[Outcome],
        proof: _ProofRow | None = None,
    ) -> bool:
        """One finished theorem: its outcomes, its verified proof and (for a named `run`) its
        episode row, in one transaction; False (and nothing written) when the run has
        recorded it before."""
        with self._transaction():
            if run is None:
                self._insert_outcomes(outcomes)
                if proof is not None:
                    self._insert_proof(proof)
                return True
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO episodes (run, theorem, file, status, result, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (
                    run,
                    result.theorem,
                    file,
                    str(result.status),
                    json.dumps(result.to_json()),
                    time.time(),
                ),
            )
            if cur.rowcount != 1:
                return False
            self._insert_outcomes(outcomes)
            if proof is not None:
                self._insert_proof(proof)
        return True

    def _insert_outcomes(self, outcomes: Iterable[Outcome]) -> int:
        now = time.time()
        rows = [
            (
                o.theorem,
                o.file,
                o.state,
                o.tactic,
                o.kind,
                o.new_state,
                o.error,
                o.time_s,
                o.model_version,
                o.round,
                now,
                o.source,
            )
            for o in outcomes
        ]
        self.conn.executemany(
            "INSERT INTO outcomes (theorem, file, state, tactic, kind, new_state, error, "
            "time_s, model_version, round, created_at, source) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        return len(rows)

    def _insert_proof(self, p: _ProofRow) -> bool:
        if len(p.steps) != len(p.tactics):
            raise ValueError("a proof needs one (state, tactic) step per tactic")
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO proofs (theorem, file, tactics, steps, axioms, time_s, "
            "model_version, round, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                p.theorem,
                p.file,
                json.dumps(list(p.tactics)),
                json.dumps([list(s) for s in p.steps]),
                json.dumps(list(p.axioms)),
                p.time_s,
                p.model_version,
                p.round,
                time.time(),
            ),
        )
        return cur.rowcount == 1

    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    # --- reading ---

    @_guard
    def proved_theorems(self) -> set[tuple[str, str]]:
        """(file, theorem) pairs with at least one verified proof."""
        return {(f, t) for f, t in self.conn.execute("SELECT DISTINCT file, theorem FROM proofs")}

    @_guard
    def episodes(self, run: str) -> dict[tuple[str, str], EpisodeResult]:
        """The finished theorems of `run`, by (file, theorem)."""
        rows = self.conn.execute("SELECT file, theorem, result FROM episodes WHERE run = ?", (run,))
        return {(f, t): EpisodeResult.from_json(json.loads(r)) for f, t, r in rows}

    @_guard
    def proofs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT theorem, file, tactics, steps, axioms, time_s, model_version, round "
            "FROM proofs ORDER BY id"
        )
        return [
            {
                "theorem": r[0],
                "file": r[1],
                "tactics": json.loads(r[2]),
                "steps": [tuple(s) for s in json.loads(r[3])],
                "axioms": json.loads(r[4]),
                "time_s": r[5],
                "model_version": r[6],
                "round": r[7],
            }
            for r in rows
        ]

    @_guard
    def outcome_counts(self) -> list[tuple[str, str, int]]:
        """(tactic, kind, how many outcomes) for each tactic text and kind recorded."""
        rows = self.conn.execute(
            "SELECT tactic, kind, COUNT(*) FROM outcomes "
            "GROUP BY tactic, kind ORDER BY tactic, kind"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    @_guard
    def source_outcomes(
        self, exclude: Collection[tuple[str, str]] = ()
    ) -> list[tuple[str, str, bool]]:
        """(source, state, succeeded) for every outcome a hybrid policy's candidate had (but
        those of the (file, theorem) pairs in `exclude`): it succeeded when it applied and its
        step lies on a verified proof of that theorem (for a closing step, when that proof
        closes the same state). Tactics are compared by `tactic_key` (the env records
        `simpl` as `simpl.`)."""
        on_proof: set[tuple[str, str, str, str]] = set()
        closing: set[tuple[str, str, str]] = set()
        for p in self.proofs():
            for state, tactic in p["steps"]:
                on_proof.add((p["file"], p["theorem"], state, tactic_key(tactic)))
            if p["steps"]:
                closing.add((p["file"], p["theorem"], p["steps"][-1][0]))
        rows = self.conn.execute(
            "SELECT source, file, theorem, state, tactic, kind FROM outcomes WHERE source != ''"
        )
        skip = set(exclude)
        return [
            (
                source,
                state,
                (kind == "progress" and (file, theorem, state, tactic_key(tactic)) in on_proof)
                or (kind == "proved" and (file, theorem, state) in closing),
            )
            for source, file, theorem, state, tactic, kind in rows
            if (file, theorem) not in skip
        ]

    def proof_steps(self) -> list[TacticStep]:
        """Every (state, tactic) step of every verified proof, as training steps."""
        out = []
        for p in self.proofs():
            for k, (state, tactic) in enumerate(p["steps"]):
                after = p["steps"][k + 1][0] if k + 1 < len(p["steps"]) else "no goals"
                out.append(TacticStep(p["theorem"], p["file"], state, tactic, after))
        return out

    @_guard
    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in KINDS}
        for kind, n in self.conn.execute("SELECT kind, COUNT(*) FROM outcomes GROUP BY kind"):
            out[kind] = n
        out["proofs"] = self.conn.execute("SELECT COUNT(*) FROM proofs").fetchone()[0]
        return out

    @_guard
    def to_dataset(self, table: str = "proof_steps") -> Any:
        """A `datasets.Dataset` of `proof_steps` (state, tactic, theorem, file, round, of
        verified proofs: what training reads) or of all `outcomes`."""
        from datasets import Dataset  # type: ignore[attr-defined]

        if table == "proof_steps":
            rows: dict[str, list[Any]] = {
                k: [] for k in ("theorem", "file", "state", "tactic", "round")
            }
            for p in self.proofs():
                for state, tactic in p["steps"]:
                    for k, v in zip(
                        rows, (p["theorem"], p["file"], state, tactic, p["round"]), strict=True
                    ):
                        rows[k].append(v)
            return Dataset.from_dict(rows)
        if table == "outcomes":
            cur = self.conn.execute(
                "SELECT theorem, file, state, tactic, kind, new_state, error, time_s, "
                "model_version, round FROM outcomes ORDER BY id"
            )
            names = [d[0] for d in cur.description]
            cols: dict[str, list[Any]] = {n: [] for n in names}
            for r in cur:
                for n, v in zip(names, r, strict=True):
                    cols[n].append(v)
            return Dataset.from_dict(cols)
        raise ValueError(f"table must be proof_steps or outcomes, got {table!r}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayRecorder:
    """The episode driver's recorder (`episodes.Recorder`) for one store: it collects each
    theorem's outcomes as search reports them, then `finish` writes them and the proof, when it
    was verified, in one transaction. Rows are tagged with the policy's `model_version` and the
    loop's `round`. With `run`, `finish` also records the theorem as finished in that run
    (`ReplayStore.episodes`), and writes nothing for a theorem the run has already recorded."""

    def __init__(
        self, store: ReplayStore, model_version: str, round: int = 0, run: str | None = None
    ) -> None:
        self.store, self.model_version, self.round, self.run = store, model_version, round, run
        self.pending: list[Outcome] = []

    def outcome(
        self,
        theorem: Theorem,
        state: ProofState,
        tactic: str,
        result: StepResult,
        seconds: float,
        source: str = "",
    ) -> None:
        self.pending.append(
            Outcome.from_step(
                theorem.name,
                str(theorem.file),
                state.text,
                tactic,
                result,
                seconds,
                self.model_version,
                self.round,
                source,
            )
        )

    def finish(self, theorem: Theorem, result: EpisodeResult) -> None:
        pending, self.pending = self.pending, []
        proof = None
        if result.proved:  # `proved` is only ever set after the whole-file recheck
            proof = _ProofRow(
                theorem.name,
                str(theorem.file),
                result.proof,
                result.steps,
                result.axioms,
                result.time_s,
                self.model_version,
                self.round,
            )
        self.store.record_episode(self.run, result, str(theorem.file), pending, proof)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
