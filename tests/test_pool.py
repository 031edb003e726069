"""Proving on Ray workers (`prover.pool`), with real Coq and a real Ray instance: the same
proofs at 1 and 2 workers, a worker's Coq process or whole actor killed mid-run (every theorem
accounted for, the killed one retried once, the replay store intact with each outcome recorded
exactly once), a driver killed and resumed, and Ctrl-C leaving no process behind.

The faults need attempts that last: `SlowPolicy` (defined here, shipped to the workers by
value) spends a second or two of real Coq work on every theorem before `lia` closes it.

Run: pytest tests/test_pool.py
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil
import pytest

from prover.data import Theorem
from prover.envs import get_env
from prover.envs.base import ProofState, Status
from prover.policies.base import Candidate
from prover.pool import PoolConfig, run_parallel
from prover.replay import ReplayRecorder, ReplayStore
from prover.search import SearchConfig

from .conftest import mark_as_trace

ROOT = Path(__file__).resolve().parents[1]
N = 8
SLOW_FILE = "Require Import Lia.\n" + "".join(
    f"Lemma s{i} : forall n : nat, n + {i} = {i} + n.\nProof. Admitted.\n" for i in range(N)
)
# Ray's processes and Coq's, by process name (Ray renames its workers `ray::...`)
WATCHED = ("coqidetop", "coqc", "coqchk", "eprover", "cvc4", "z3", "raylet", "gcs_server", "ray::")


class SlowPolicy:
    """Each state: a tactic that keeps Coq busy for a second or two, then `lia`."""

    name = "slow"
    version = "slow"
    imports: tuple[str, ...] = ()

    def propose(self, state: ProofState) -> list[Candidate]:
        return [
            Candidate("assert (forall k : nat, k = k) by (do 3000000 idtac; reflexivity).", -1.0),
            Candidate("intros; lia.", -2.0),
        ]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        return [self.propose(s) for s in states]

    def begin(self, root: ProofState) -> None:
        pass

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def _ship_this_module() -> None:
    # the workers cannot import tests/: send SlowPolicy's class with it
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def watched() -> set[int]:
    """Pids of running Coq and Ray processes."""
    out = set()
    for p in psutil.process_iter(["name", "cmdline", "status"]):
        text = " ".join([p.info["name"] or "", *(p.info["cmdline"] or [])[:1]])
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(w in text for w in WATCHED):
            out.add(p.pid)
    return out


def settle(before: set[int], seconds: float = 30) -> set[int]:
    """What is still running, of what was not running `before`, after at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        left = watched() - before
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def worker_processes() -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "ProverWorker" in " ".join(p.info["cmdline"] or [])
    ]


def coq_of_workers() -> list[psutil.Process]:
    return [
        c for w in worker_processes() for c in w.children(recursive=True) if "coqidetop" in c.name()
    ]


def integrity(db: Path) -> tuple[str, int, int, int]:
    """SQLite's integrity check, outcome rows, episode rows, distinct episodes."""
    conn = sqlite3.connect(db)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        outcomes = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
        episodes = conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
        distinct = conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT run, file, theorem FROM episodes)"
        ).fetchone()[0]
    finally:
        conn.close()
    return check, outcomes, episodes, distinct


def run_slow(
    tmp_path: Path, kill: Callable[[], list[psutil.Process]]
) -> tuple[list, Path, list[int]]:
    """The slow file's theorems on 2 workers, recorded in a replay store; once the first
    theorem is done, `kill` picks processes and they get SIGKILL."""
    src = tmp_path / "Slow.v"
    src.write_text(SLOW_FILE)
    theorems = [Theorem(src, f"s{i}") for i in range(N)]
    killed: list[int] = []
    first = threading.Event()

    def killer() -> None:
        if first.wait(120):
            for p in kill()[:1]:
                killed.append(p.pid)
                p.kill()

    threading.Thread(target=killer, daemon=True).start()
    db = tmp_path / "replay.sqlite"
    with ReplayStore(db) as store:
        results, _ = run_parallel(
            functools.partial(get_env, "coq", tactic_timeout=10),
            SlowPolicy(),
            theorems,
            SearchConfig(time_limit_s=60),
            ReplayRecorder(store, "slow", run="fault"),
            pool=PoolConfig(workers=2),
            desc="slow",
            log=lambda line: first.set(),
        )
    return results, db, killed


def check_accounted(results: list, db: Path) -> None:
    assert [r.theorem for r in results] == [f"s{i}" for i in range(N)]
    assert all(r.status is Status.PROVED for r in results), [
        (r.theorem, r.status, r.reason) for r in results
    ]
    assert sum(r.retried for r in results) == 1  # the one the kill hit, and only it
    check, outcomes, episodes, distinct = integrity(db)
    assert check == "ok" and episodes == distinct == N
    # each tactic call of each theorem's kept attempt recorded once; the dead attempt's none
    assert outcomes == sum(r.search["tactic_calls"] for r in results)


def test_a_killed_coq_process_costs_one_retry(tmp_path: Path, coq_installed: None) -> None:
    before = watched()
    results, db, killed = run_slow(tmp_path, coq_of_workers)
    assert len(killed) == 1
    check_accounted(results, db)
    assert not settle(before)


def test_a_killed_worker_actor_costs_one_retry(tmp_path: Path, coq_installed: None) -> None:
    before = watched()
    results, db, killed = run_slow(tmp_path, worker_processes)
    assert len(killed) == 1
    check_accounted(results, db)
    assert not settle(before)


PROVABLE = """Require Import Arith Lia.
Lemma a0 : forall n : nat, n + 0 = n.
Proof. Admitted.
Lemma a1 : forall a b : nat, a + b = b + a.
Proof. Admitted.
Lemma a2 : forall n m : nat, n <= m -> n < S m.
Proof. Admitted.
Lemma a3 : forall n : nat, n * 0 = 1.
Proof. Admitted.
Lemma a4 : forall b : bool, negb (negb b) = b.
Proof. Admitted.
Lemma a5 : forall (P : Prop), P -> ~ ~ P.
Proof. Admitted.
"""


def springtail(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,  # type: ignore[arg-type]
    )


def test_two_workers_prove_what_one_proves(tmp_path: Path, coq_installed: None) -> None:
    src = tmp_path / "P.v"
    src.write_text(PROVABLE)
    names = [f"a{i}" for i in range(6)]
    rows = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        res = springtail(
            "prove", "--file", str(src), "--theorem", *names, "--timeout", "20",
            "--workers", workers, "--json", str(out),
        )  # fmt: skip
        assert res.returncode == 1, res.stderr  # a3 is false: not everything is proved
        rows[workers] = {
            r["theorem"]: (r["status"], r["proof"]) for r in json.loads(out.read_text())
        }
        assert "PROVED a0" in res.stdout and "NOT PROVED a3" in res.stdout
    assert rows["1"] == rows["2"]
    assert [t for t, (s, _) in rows["1"].items() if s == "proved"] == [
        "a0", "a1", "a2", "a4", "a5",
    ]  # fmt: skip


def small_trace(root: Path, count: int) -> Path:
    """A trace folder whose novel_files/test split is `count` lemmas of one file."""
    (root / "novel_files").mkdir(parents=True)
    src = root / "Many.v"
    src.write_text(
        "Require Import Lia.\n"
        + "".join(
            f"Lemma m{i} : forall n : nat, n + {i} = {i} + n.\nProof. Admitted.\n"
            for i in range(count)
        )
    )
    records = [
        {"file_path": str(src), "full_name": f"Many.m{i}", "theorem": f"m{i}"} for i in range(count)
    ]
    (root / "novel_files" / "test.json").write_text(json.dumps(records))
    mark_as_trace(root)
    return root


def episodes_in(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM episodes").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_a_killed_driver_resumes_without_duplicates(tmp_path: Path, coq_installed: None) -> None:
    count = 16
    data = small_trace(tmp_path / "trace", count)
    out = tmp_path / "run"
    args = (
        "eval", "coq", "--data", str(data), "--split", "novel_files/test", "--timeout", "20",
        "--workers", "2", "--out", str(out), "--verbose",
    )  # fmt: skip
    before = watched()
    driver = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its group: what a killed driver leaves is found and ended
    )
    db = out / "replay.sqlite"
    try:
        deadline = time.monotonic() + 300
        while episodes_in(db) < 2 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        driver.kill()  # SIGKILL: no cleanup of its own
        driver.wait()
    finally:
        # Ray's agents outlive a SIGKILLed driver (Ray's behaviour): end its whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    first = episodes_in(db)
    assert 2 <= first < count, first  # killed mid-run
    settle(before)

    res = springtail(*args)
    assert res.returncode == 0, res.stderr
    assert f"resuming {out}: {first} theorem(s) already recorded" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempted"] == summary["proved"] == count
    check, outcomes, episodes, distinct = integrity(db)
    assert check == "ok" and episodes == distinct == count
    assert outcomes == sum(r["search"]["tactic_calls"] for r in summary["results"])
    assert not settle(before)

    # the same folder with other options is refused before any work
    other = springtail(*("5" if a == "20" else a for a in args))
    assert other.returncode == 2 and "other options (timeout differ)" in other.stderr


def test_ctrl_c_leaves_no_process_behind(tmp_path: Path, coq_installed: None) -> None:
    # false statements: CoqHammer searches for its whole time limit on each
    src = tmp_path / "False.v"
    src.write_text(
        "".join(
            f"Lemma s{i} : forall n : nat, n * n + {i} = n + 1.\nProof. Admitted.\n"
            for i in range(N)
        )
    )
    before = watched()
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prover.cli",
            "prove",
            "--file",
            str(src),
            "--theorem",
            *[f"s{i}" for i in range(N)],
            "--policy",
            "hammer",
            "--timeout",
            "60",
            "--workers",
            "2",
        ],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(coq_of_workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(coq_of_workers()) == 2  # both workers are proving
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted" in err
    assert not settle(before)
