"""The replay store: a child process killed with SIGKILL mid-write leaves an intact database
with every committed batch; schema versions; refusing foreign files; exports.

Run: pytest tests/test_replay.py
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.envs import Failed, Progress, ProofState, Proved, TimedOut
from prover.replay import SCHEMA_VERSION, Outcome, ReplayError, ReplayStore

BATCH = 50

WRITER = f"""
import sys
from prover.replay import Outcome, ReplayStore
store = ReplayStore(sys.argv[1])
i = 0
while True:
    rows = [
        Outcome("thm%d" % i, "f.v", "state " * 200, "tac%d." % k, "failed", None, "err", 0.01,
                "m", i)
        for k in range({BATCH})
    ]
    store.record_outcomes(rows)
    store.add_proof(theorem="thm%d" % i, file="f.v", tactics=["auto."],
                    steps=[("state %d" % i, "auto.")], round=i)
    print(i, flush=True)
    i += 1
"""


def test_sigkill_mid_write_leaves_every_committed_batch(tmp_path: Path) -> None:
    db = tmp_path / "replay.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = -1
    deadline = time.monotonic() + 60
    while committed < 30 and time.monotonic() < deadline:
        committed = int(child.stdout.readline())
    time.sleep(0.05)  # let it get into the middle of further writes
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert committed >= 30, "the writer did not get going"

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with ReplayStore(db) as store:
        counts = store.counts()
        # every batch the child reported is there, and no batch is half there
        assert counts["failed"] >= BATCH * (committed + 1)
        assert counts["failed"] % BATCH == 0
        assert counts["proofs"] >= committed + 1
        per_round = store.conn.execute(
            "SELECT round, COUNT(*) FROM outcomes GROUP BY round"
        ).fetchall()
        assert all(n == BATCH for _, n in per_round)
        store.record_outcomes([Outcome("x", "f.v", "s", "t.", "failed", None, "e", 0, "m", 0)])


def test_outcomes_from_step_results_and_proofs(tmp_path: Path) -> None:
    results = [Progress(ProofState("next", 1, 1)), Proved(("t.",)), Failed("no"), TimedOut(2.0)]
    rows = [Outcome.from_step("thm", "f.v", "goal", "t.", r, 0.1, "v1", 3) for r in results]
    assert [(o.kind, o.new_state, o.error) for o in rows] == [
        ("progress", "next", None),
        ("proved", None, None),
        ("failed", None, "no"),
        ("timeout", None, "timed out after 2s"),
    ]
    with ReplayStore(tmp_path / "r.sqlite") as store:
        assert store.record_outcomes(rows) == 4
        assert store.add_proof(
            theorem="thm", file="f.v", tactics=["a.", "b."], steps=[("g1", "a."), ("g2", "b.")]
        )
        # the same proof again is not a new row; another proof of the same theorem is
        assert not store.add_proof(
            theorem="thm", file="f.v", tactics=["a.", "b."], steps=[("g1", "a."), ("g2", "b.")]
        )
        assert store.add_proof(theorem="thm", file="f.v", tactics=["c."], steps=[("g1", "c.")])
        with pytest.raises(ValueError, match="one \\(state, tactic\\) step per tactic"):
            store.add_proof(theorem="thm", file="f.v", tactics=["c."], steps=[])
        assert store.proved_theorems() == {("f.v", "thm")}
        steps = store.proof_steps()
        assert [(x.state_before, x.tactic, x.state_after) for x in steps] == [
            ("g1", "a.", "g2"),
            ("g2", "b.", "no goals"),
            ("g1", "c.", "no goals"),
        ]
        ds = store.to_dataset()
        assert ds.column_names == ["theorem", "file", "state", "tactic", "round"]
        assert ds["tactic"] == ["a.", "b.", "c."]
        out = store.to_dataset("outcomes")
        assert (
            out["kind"] == ["progress", "proved", "failed", "timeout"] and out["round"] == [3] * 4
        )
        with pytest.raises(ValueError, match="proof_steps or outcomes"):
            store.to_dataset("nope")
    assert sqlite3.connect(tmp_path / "r.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == (
        "wal"
    )


def test_newer_schema_and_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    with ReplayStore(newer) as store:
        store.record_outcomes([Outcome("t", "f", "s", "x.", "failed", None, "e", 0, "m", 0)])
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = newer.read_bytes()
    with pytest.raises(ReplayError, match="newer than this Springtail"):
        ReplayStore(newer)
    assert newer.read_bytes() == before

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ReplayError, match="not a replay store"):
        ReplayStore(other)

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(ReplayError, match="not a replay store"):
        ReplayStore(junk)
    assert junk.read_bytes() == b"definitely not sqlite" * 100

    with pytest.raises(FileNotFoundError):
        ReplayStore(tmp_path / "missing.sqlite", readonly=True)


def test_an_empty_file_or_a_fifo_is_refused_untouched(tmp_path: Path) -> None:
    """Only a missing path is a new store: a store's first open writes its schema version, so
    an empty file is someone else's (and a FIFO would block a read forever)."""
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()  # zero bytes
    with pytest.raises(ReplayError, match="empty file"):
        ReplayStore(path)
    assert path.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    with pytest.raises(ReplayError, match="not a regular file"):
        ReplayStore(fifo)


def _foreign(path: Path, *statements: str, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def _newer(path: Path) -> Path:
    with ReplayStore(path) as store:  # ours, in WAL mode, then stamped with a future version
        store.add_proof(theorem="t", file="f.v", tactics=["a."], steps=[("g", "a.")])
    return _foreign(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


FOREIGN = {
    "v1 with other tables": (["CREATE TABLE mine (x)", "PRAGMA user_version = 1"], "not a replay"),
    "v-1 with no tables": (["PRAGMA user_version = -1"], "not a replay store"),
    "v-1 with other tables": (["CREATE TABLE mine (x)", "PRAGMA user_version = -1"], "not a"),
    "v0 with other tables": (["CREATE TABLE mine (x)"], "not a replay store"),
    "v1 with only our outcomes table": (
        ["CREATE TABLE outcomes (x)", "PRAGMA user_version = 1"],
        "not a replay store",
    ),
    "another application's id": (["PRAGMA application_id = 42"], "application_id 42"),
    "a future version without our tables": (["PRAGMA user_version = 7"], "not a replay store"),
}


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("wal", [False, True])
@pytest.mark.parametrize("case", sorted(FOREIGN) + ["newer"])
def test_foreign_and_newer_files_are_refused_before_any_write(
    tmp_path: Path, case: str, wal: bool, readonly: bool
) -> None:
    path = tmp_path / "x.sqlite"
    if case == "newer":
        _newer(path)
        match = "newer than this Springtail"
    else:
        _foreign(path, *FOREIGN[case][0], wal=wal)
        match = FOREIGN[case][1]
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(ReplayError, match=match):
        ReplayStore(path, readonly=readonly)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite"]  # no -wal, -shm, -journal


def _store_with_proofs(path: Path, n: int = 100) -> bytes:
    with ReplayStore(path) as store:
        for i in range(n):
            store.add_proof(
                theorem=f"t{i}", file="f.v", tactics=["auto."], steps=[("x" * 500, "auto.")]
            )
    return path.read_bytes()


def test_damaged_and_non_sqlite_files_give_replay_error_untouched(tmp_path: Path) -> None:
    good = _store_with_proofs(tmp_path / "good.sqlite")
    bad_page_size = bytearray(good)
    bad_page_size[16:18] = b"\x00\x07"  # not a power of two
    cases = {
        "text": b"theorem,tactic\nfoo,auto.\n" * 50,
        "short": good[:60],  # cut inside the 100-byte header
        "zeroed header": bytes(16) + good[16:],
        "bad page size": bytes(bad_page_size),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.sqlite"
        path.write_bytes(content)
        for readonly in (False, True):
            with pytest.raises(ReplayError, match="not a replay store|damaged") as info:
                ReplayStore(path, readonly=readonly)
            assert "pass another path" in str(info.value), name
        assert path.read_bytes() == content, name
    assert not list(tmp_path.glob("*-wal")) and not list(tmp_path.glob("*-shm"))


def test_damage_found_by_a_later_query_is_a_replay_error(tmp_path: Path) -> None:
    good = _store_with_proofs(tmp_path / "good.sqlite")
    page = int.from_bytes(good[16:18], "big")
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(good[: 5 * page] + b"\xab" * (len(good) - 5 * page))
    for readonly in (False, True):
        with ReplayStore(damaged, readonly=readonly) as store:  # page 1 and the schema are fine
            assert store.counts()["proofs"] == 100
            with pytest.raises(ReplayError, match="damaged.*restore it from a copy"):
                store.proofs()
            with pytest.raises(ReplayError, match="damaged"):
                store.proof_steps()
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ReplayError, match="damaged"):
        with ReplayStore(truncated, readonly=True) as store:
            store.proofs()


def test_a_new_path_is_created_and_an_old_store_of_ours_is_migrated(tmp_path: Path) -> None:
    new = tmp_path / "deep" / "dir with ? and #" / "r.sqlite"
    with ReplayStore(new) as store:
        assert store.counts()["proofs"] == 0
    with ReplayStore(new, readonly=True) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    old = _foreign(tmp_path / "v0.sqlite", "PRAGMA user_version = 0", wal=True)  # empty, v0
    with ReplayStore(old) as store:
        assert store.counts() == {
            k: 0 for k in ("progress", "proved", "failed", "timeout", "proofs")
        }
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
