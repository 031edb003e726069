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
from pathlib import Path

import psutil
import pytest

from prover.data import Theorem
from prover.envs import get_env
from prover.envs.base import ProofState, Status
from prover.policies.base import Candidate, TacticPolicy
from prover.pool import PoolConfig, run_parallel
from prover.replay import ReplayRecorder, ReplayStore
from prover.search import SearchConfig

from .conftest import mark_as_trace

ROOT = Path(__file__).resolve().parents[1]
N = 8
SLOW_FILE = "Require Import Lia.\n" + "".join(
    f"Lemma s{i} : forall n : nat, n + {i} = {i} + n.\nProof. Admitted.\n" for i in range(N)
)
SIGINT_BIT = 1 << (signal.SIGINT - 1)  # in /proc/PID/status SigBlk


class SlowPolicy(TacticPolicy):
    """Each state: a tactic that keeps Coq busy for a second or two, then `lia`; a state
    whose goal mentions 99 kills the worker it runs in (each time)."""

    name = "slow"
    version = "slow"
    imports: tuple[str, ...] = ()

    def propose(self, state: ProofState) -> list[Candidate]:
        if "99" in state.text:
            os.kill(os.getpid(), signal.SIGKILL)
        return [
            Candidate("assert (forall k : nat, k = k) by (do 3000000 idtac; reflexivity).", -1.0),
            Candidate("intros; lia.", -2.0),
        ]


@pytest.fixture(scope="module", autouse=True)
def _ship_this_module() -> None:
    # the workers cannot import tests/: send SlowPolicy's class with it
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Tracker:
    """Every process descending from `root` while it runs, sampled every 0.2 s (whatever else
    runs on the machine is never looked at): what the run started, and what is left of it."""

    def __init__(self, root: int) -> None:
        self.root = psutil.Process(root)
        self.seen: dict[tuple[int, float], psutil.Process] = {}
        # what already ran under `root` (an earlier test's helper in this pytest process) is
        # not this run's
        self.before = {(p.pid, p.create_time()) for p in self.root.children(recursive=True)}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.2)

    def sample(self) -> list[psutil.Process]:
        try:
            now = self.root.children(recursive=True)
        except psutil.Error:
            return []
        for p in now:
            with contextlib.suppress(psutil.Error):
                key = (p.pid, p.create_time())
                if key not in self.before:
                    self.seen.setdefault(key, p)
        return now

    def named(self, text: str) -> list[psutil.Process]:
        """Live descendants whose name or command line holds `text`."""
        out = []
        for p in self.sample():
            with contextlib.suppress(psutil.Error):
                if text in p.name() or text in " ".join(p.cmdline()[:2]):
                    out.append(p)
        return out

    def left(self, seconds: float = 30) -> list[str]:
        """What it saw that still runs (not a zombie) after at most `seconds`."""
        self._stop.set()
        deadline = time.monotonic() + seconds
        while True:
            alive = []
            for p in self.seen.values():
                with contextlib.suppress(psutil.Error):
                    if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                        alive.append(f"{p.pid} {p.name()}")
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.5)


def worker_of(p: psutil.Process) -> str:
    """host:pid of the Ray worker `p` is, or runs under (what results report); '' when none
    (or `p` is gone)."""
    with contextlib.suppress(psutil.Error):
        for q in [p, *p.parents()]:
            if "ProverWorker" in " ".join(q.cmdline()[:2]):
                return f"{os.uname().nodename}:{q.pid}"
    return ""


def sigint_blocked(p: psutil.Process) -> bool:
    status = Path(f"/proc/{p.pid}/status").read_text()
    return bool(int(status.split("SigBlk:")[1].split()[0], 16) & SIGINT_BIT)


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
    tmp_path: Path, victim: str | None, text: str = SLOW_FILE, count: int = N
) -> tuple[list, Path, dict]:
    """The file's theorems on 2 workers of an in-process pool, recorded in a replay store.
    Once the first theorem is done: the processes of this run are checked (a worker's Coq
    must take SIGINT), and with `victim` ("coqidetop" or "ProverWorker") one of them gets
    SIGKILL."""
    src = tmp_path / "Slow.v"
    src.write_text(text)
    theorems = [Theorem(src, f"s{i}") for i in range(count)]
    seen: dict = {}
    first = threading.Event()
    tracker = Tracker(os.getpid())

    def killer() -> None:
        if not first.wait(120):
            return
        coqs = tracker.named("coqidetop")
        seen["coq_sigint_blocked"] = [sigint_blocked(c) for c in coqs if worker_of(c)]
        if victim is not None:
            p = tracker.named(victim)[0]
            seen["killed_worker"] = worker_of(p)
            p.kill()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
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
    thread.join(10)
    seen["left"] = tracker.left()
    return results, db, seen


def check_accounted(results: list, db: Path, seen: dict) -> None:
    assert [r.theorem for r in results] == [f"s{i}" for i in range(N)]
    assert all(r.status is Status.PROVED for r in results), [
        (r.theorem, r.status, r.reason) for r in results
    ]
    (again,) = [r for r in results if r.retried]  # the one the kill hit, and only it
    assert seen["killed_worker"] and again.worker != seen["killed_worker"]  # on another worker
    check, outcomes, episodes, distinct = integrity(db)
    assert check == "ok" and episodes == distinct == N
    # each tactic call of each theorem's kept attempt recorded once; the dead attempt's none
    assert outcomes == sum(r.search["tactic_calls"] for r in results)
    assert seen["coq_sigint_blocked"] and not any(seen["coq_sigint_blocked"])
    assert seen["left"] == []


def test_a_killed_coq_process_costs_one_retry(tmp_path: Path, coq_installed: None) -> None:
    results, db, seen = run_slow(tmp_path, "coqidetop")
    check_accounted(results, db, seen)


def test_a_killed_worker_actor_costs_one_retry(tmp_path: Path, coq_installed: None) -> None:
    results, db, seen = run_slow(tmp_path, "ProverWorker")
    check_accounted(results, db, seen)


def test_a_theorem_that_kills_its_worker_twice_is_an_error(
    tmp_path: Path, coq_installed: None
) -> None:
    text = "Require Import Lia.\n" + "".join(
        f"Lemma s{i} : forall n : nat, n + {i if i != 2 else 99} = {i if i != 2 else 99} + n."
        "\nProof. Admitted.\n"
        for i in range(4)
    )
    results, db, seen = run_slow(tmp_path, None, text, count=4)
    by = {r.theorem: r for r in results}
    assert by["s2"].status is Status.ERROR and by["s2"].retried
    assert "failed twice" in by["s2"].reason and "died" in by["s2"].reason
    assert all(by[t].proved and not by[t].retried for t in ("s0", "s1", "s3"))
    check, outcomes, episodes, distinct = integrity(db)
    assert check == "ok" and episodes == distinct == 4
    assert outcomes == sum(r.search.get("tactic_calls", 0) for r in results)  # s2 left none
    assert seen["left"] == []


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


def springtail(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`springtail ARGS` in a process of its own; its result, and what it left running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tracker = Tracker(proc.pid)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), tracker.left()


def test_two_workers_prove_what_one_proves(tmp_path: Path, coq_installed: None) -> None:
    src = tmp_path / "P.v"
    src.write_text(PROVABLE)
    names = [f"a{i}" for i in range(6)]
    rows = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        res, left = springtail(
            "prove", "--file", str(src), "--theorem", *names, "--timeout", "20",
            "--workers", workers, "--json", str(out),
        )  # fmt: skip
        assert left == []
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
    driver = subprocess.Popen(
        [sys.executable, "-m", "prover.cli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its group: what a killed driver leaves is found and ended
    )
    tracker = Tracker(driver.pid)
    db = out / "replay.sqlite"
    try:
        deadline = time.monotonic() + 300
        while episodes_in(db) < 2 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        tracker.sample()
        driver.kill()  # SIGKILL: no cleanup of its own
        driver.wait()
    finally:
        # Ray's agents outlive a SIGKILLed driver (Ray's behaviour): end its whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    first = episodes_in(db)
    assert 2 <= first < count, first  # killed mid-run
    assert tracker.left() == []  # the group's end took everything (the workers' Coq too)

    res, left = springtail(*args)
    assert res.returncode == 0, res.stderr
    assert f"resuming {out}: {first} theorem(s) already recorded" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attempted"] == summary["proved"] == count
    check, outcomes, episodes, distinct = integrity(db)
    assert check == "ok" and episodes == distinct == count
    assert outcomes == sum(r["search"]["tactic_calls"] for r in summary["results"])
    assert left == []

    # the same folder with other options is refused before any work
    other, _ = springtail(*("5" if a == "20" else a for a in args))
    assert other.returncode == 2 and "other options (timeout differ)" in other.stderr
    # and so is the same command once the policy changed (other closers: another version)
    options = json.loads((out / "run.json").read_text())
    assert options["policy_version"] == summary["policy_version"] == "portfolio-2"
    (out / "run.json").write_text(json.dumps(options | {"policy_version": "portfolio-1"}))
    changed, _ = springtail(*args)
    assert changed.returncode == 2 and "policy version 'portfolio-1'" in changed.stderr
    assert json.loads((out / "summary.json").read_text()) == summary
    # so is a folder that holds something else (a loop's, say)
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "rounds.jsonl").write_text("")
    foreign, _ = springtail(*(str(tmp_path / "loop") if a == str(out) else a for a in args))
    assert foreign.returncode == 2 and "no run.json" in foreign.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_leaves_no_process_behind(tmp_path: Path, coq_installed: None, sig: int) -> None:
    """Ctrl-C (or SIGTERM) while both workers prove: the command ends within seconds and
    nothing it started runs on."""
    # false statements: CoqHammer searches for its whole time limit on each
    src = tmp_path / "False.v"
    src.write_text(
        "".join(
            f"Lemma s{i} : forall n : nat, n * n + {i} = n + 1.\nProof. Admitted.\n"
            for i in range(N)
        )
    )
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
        # as from a terminal: a shell running the tests in the background ignores SIGINT, and
        # its children would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    tracker = Tracker(driver.pid)

    def proving() -> int:  # workers with a Coq process
        return len({worker_of(c) for c in tracker.named("coqidetop")} - {""})

    deadline = time.monotonic() + 120
    while proving() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert proving() == 2  # both workers are proving
    driver.send_signal(sig)
    t0 = time.monotonic()
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted" in err
    assert time.monotonic() - t0 < 20  # not after the running attempts end
    assert tracker.left() == []


def test_a_misspelled_name_among_several_is_refused_first(tmp_path: Path, capsys) -> None:
    """Every name is resolved before any worker starts: one bad name is exit 2 at once, not
    after the others were searched."""
    from prover.cli import main

    src = tmp_path / "P.v"
    src.write_text(PROVABLE)
    t0 = time.monotonic()
    assert main(["prove", "--file", str(src), "--theorem", "a0", "a9", "--workers", "2"]) == 2
    assert "no theorem named 'a9'" in capsys.readouterr().err
    assert time.monotonic() - t0 < 5  # no Ray was started
