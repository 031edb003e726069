"""The replay store: a child process killed with SIGKILL mid-write leaves an intact database
with every committed batch; schema versions; refusing foreign files; exports.

Run: pytest tests/test_replay.py
"""

from __future__ import annotations

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


def test_an_empty_file_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).close()  # version 0, no tables
    with ReplayStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.counts()["proofs"] == 0
