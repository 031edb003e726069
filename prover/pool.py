"""Proving on Ray workers: each worker is a Ray actor holding one `ProofEnv` (its own proof
assistant process) and a copy of the policy, and attempts theorems one at a time through the
episode driver's `attempt_theorem`; the driver hands theorems out as workers free up, so a
long theorem never stalls a fixed shard.

    results, wall_s = run_parallel(
        make_env, policy, theorems, SearchConfig(), recorder, pool=PoolConfig(workers=2),
        desc="portfolio novel_files/test",
    )

`make_env` is a picklable callable that builds the env inside the worker (e.g.
`functools.partial(get_env, "coq", tactic_timeout=5)`); the policy is built once by the
caller (bad options fail there, before any worker starts) and shipped to each worker once
through Ray's object store. `PoolConfig.ray_address` joins an existing cluster; without it the
run starts a local Ray instance and stops it at the end. `workers=1` takes the same path.

What goes back to the driver: each theorem's result with the outcomes of every tactic call
of its search. The driver is the only writer of the replay store (the caller's recorder gets
the outcomes, then `finish`, per theorem, in the driver), and the only one that decides.

Faults: a theorem whose worker died under it (the actor killed, or its proof assistant's
process dying mid-attempt) is attempted once more on another worker (one that is alive and,
when there are several, not the one it died on) and reported with `retried: true`; a second
death makes it `ERROR`. Outcomes travel with the result, so those of a dead attempt are never
recorded and none is recorded twice. A dead actor is replaced (started with every proof the
others have learned). When the run ends — normally, by an error, by Ctrl-C or SIGTERM — every
worker's processes (proof assistant, ATPs) are killed at once, from a control thread of the
worker's own, and the actors with them, and a local Ray instance is shut down.

Online policies: a proof one worker verifies is handed to every other worker's policy
(`TacticPolicy.learn`) before its next theorem, so the whole pool learns it, as a single
process would (the order in which theorems finish still differs between runs).

Paths: workers run in the driver's working directory, so relative theorem paths mean the same
there; on a multi-machine cluster the files must be at the same paths on every node.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prover.data import Theorem
from prover.envs.base import ProofEnv, ProofState, Status, StepResult
from prover.episodes import (
    EpisodeResult,
    LiveRate,
    Recorder,
    attempt_theorem,
    recheck,
    run_all,
)
from prover.policies.base import TacticPolicy
from prover.search import SearchConfig

# Seconds the workers get to start (a cluster without free CPUs would never start them).
START_TIMEOUT_S = 600.0
# Seconds a worker gets to close its env when the run ends, before it is killed.
CLOSE_TIMEOUT_S = 20.0


class PoolError(RuntimeError):
    """The pool cannot run: Ray is unreachable, or its workers never started."""


@dataclass(frozen=True)
class PoolConfig:
    workers: int | None = None  # None: the machine's cores (a cluster: its CPUs)
    ray_address: str | None = None  # join this cluster; None: a local instance for the run
    start_timeout_s: float = START_TIMEOUT_S


@dataclass
class WorkerAttempt:
    """What a worker sends back for one theorem."""

    result: EpisodeResult
    outcomes: list[tuple[ProofState, str, StepResult, float, str]]
    crashed: str = ""  # why the attempt cannot be trusted: the proof assistant died under it


class ProverWorker:
    """The state of one worker actor: an env, a policy, theorems attempted one at a time."""

    def __init__(
        self,
        make_env: Callable[[], ProofEnv],
        policy: TacticPolicy,
        cwd: str,
        learned: Sequence[Sequence[tuple[str, str]]] = (),
    ) -> None:
        import ray

        try:
            import torch

            torch.set_num_threads(1)  # one CPU per worker
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        self.make_env = make_env
        self.policy = policy
        self.name = f"{os.uname().nodename}:{os.getpid()}"
        # kept, to be raised by the calls (Ray reports a failed constructor only as text):
        # e.g. BackendUnavailable, which the driver turns into exit 2 with what to install
        self.error: Exception | None = None
        try:
            try:
                os.chdir(cwd)  # relative theorem paths mean what they mean to the driver
            except OSError as e:
                raise PoolError(
                    f"worker {self.name}: the driver's folder {cwd} is not on this node "
                    f"({e.strerror}): run from a folder every node shares"
                ) from None
            if ray.get_gpu_ids():  # Ray gave this worker (part of) a GPU: the model goes there
                _to_device(policy, "cuda")
            for steps in learned:
                policy.learn(steps)
            self.env = make_env()
        except Exception as e:
            self.error = e

    def ready(self) -> tuple[str, str]:
        """Its name (host:pid) and its Ray node's id; the env's error if it has none."""
        import ray

        if self.error is not None:
            raise self.error
        return self.name, ray.get_runtime_context().get_node_id()

    def attempt(
        self,
        theorem: Theorem,
        config: SearchConfig,
        allow_original_axioms: bool,
        discard_unusable: bool,
    ) -> WorkerAttempt:
        if self.error is not None:
            raise self.error
        outcomes: list[tuple[ProofState, str, StepResult, float, str]] = []

        def hook(
            state: ProofState, tactic: str, result: StepResult, seconds: float, source: str = ""
        ) -> None:
            outcomes.append((state, tactic, result, seconds, source))

        crashes = self.env.crashes
        result = attempt_theorem(
            self.env,
            self.policy,
            theorem,
            config,
            hook,
            allow_original_axioms=allow_original_axioms,
            discard_unusable=discard_unusable,
        )
        crashed = ""
        if result.status is Status.ERROR:
            crashed = result.reason
            self._fresh_env()
        elif self.env.crashes > crashes:
            # even a proof found after the env restarted it: the attempt ran partly on a dead
            # process (a tactic it was running counted as failed), so it is made again, whole
            crashed = "the proof assistant's process died during the attempt"
        elif result.proved:
            self.policy.learn(result.steps)
        return WorkerAttempt(dataclasses.replace(result, worker=self.name), outcomes, crashed)

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        self.policy.learn(steps)

    def memory(self) -> dict[str, Any]:
        """Resident memory (MiB) of the worker and of the processes it started."""
        import psutil

        me = psutil.Process()
        children = me.children(recursive=True)
        child_rss = 0
        for c in children:
            with contextlib.suppress(psutil.Error):
                child_rss += c.memory_info().rss
        return {
            "worker": self.name,
            "rss_mib": me.memory_info().rss / 2**20,
            "children_rss_mib": child_rss / 2**20,
            "children": len(children),
            "zombies": sum(_zombie(c) for c in children),
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.env.close()

    def stop(self) -> int:
        """Kill every process this worker started (proof assistant, ATPs, checkers) and close
        the env so that a running attempt stops instead of restarting its assistant; callable
        while an attempt runs (its own thread). How many processes it killed."""
        killed = self._kill_children()
        with contextlib.suppress(Exception):
            self.env.close()  # its process is dead: closing only marks it closed, cleans up
        return killed + self._kill_children()  # one a restart may have started meanwhile

    @staticmethod
    def _kill_children() -> int:
        import psutil

        procs = psutil.Process().children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(procs, timeout=5)
        return len(procs)

    def _fresh_env(self) -> None:
        with contextlib.suppress(Exception):
            self.env.close()
        self.env = self.make_env()


def _to_device(policy: TacticPolicy, device: str) -> bool:
    """`policy.to_device`, for a policy that implements the protocol without subclassing it."""
    move = getattr(policy, "to_device", None)
    return bool(move(device)) if move is not None else False


def _zombie(p: Any) -> bool:
    import psutil

    try:
        return bool(p.status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


# --- the driver ------------------------------------------------------------------------------


@dataclass
class _Slot:
    """One worker place in the pool: its actor (replaced when it dies)."""

    index: int
    actor: Any
    name: str = ""
    node: str = ""  # the Ray node it runs on
    busy: bool = False


@dataclass
class _Job:
    index: int
    theorem: Theorem
    tries: int = 0
    avoid: int | None = None  # the slot it died on
    why: list[str] = field(default_factory=list)


class Pool:
    """A started pool of worker actors (use `start_pool`)."""

    def __init__(
        self,
        ray: Any,
        make_env: Callable[[], ProofEnv],
        policy: TacticPolicy,
        workers: int,
        start_timeout_s: float,
        learned: Sequence[Sequence[tuple[str, str]]] = (),
    ) -> None:
        self.ray = ray
        self.make_env = make_env
        # shipped on the CPU (a worker may have no GPU); a model gets a share of the cluster's
        # GPUs when it has some, and goes there in its worker
        has_model = _to_device(policy, "cpu")
        gpus = float(ray.cluster_resources().get("GPU", 0)) if has_model else 0.0
        self.policy_ref = ray.put(policy)
        self.start_timeout_s = start_timeout_s
        self.remote = ray.remote(
            num_cpus=1,
            num_gpus=min(1.0, gpus / workers),
            max_restarts=0,
            concurrency_groups={"control": 1},
        )(ProverWorker)
        self.learned: list[Sequence[tuple[str, str]]] = list(learned)
        self.slots = [_Slot(k, self._actor()) for k in range(workers)]
        self._await_ready(self.slots)

    def _actor(self) -> Any:
        return self.remote.remote(self.make_env, self.policy_ref, os.getcwd(), self.learned)

    def _await_ready(self, slots: Sequence[_Slot]) -> None:
        refs = {s.actor.ready.remote(): s for s in slots}
        done, pending = self.ray.wait(
            list(refs), num_returns=len(refs), timeout=self.start_timeout_s
        )
        if pending:
            raise PoolError(
                f"{len(pending)} of {len(refs)} workers did not start within "
                f"{self.start_timeout_s:.0f}s: the cluster has too few free CPUs "
                f"({self.ray.available_resources().get('CPU', 0):g} now); ask for fewer "
                "--workers"
            )
        for ref in done:
            try:
                refs[ref].name, refs[ref].node = _get(self.ray, ref)
            except self.ray.exceptions.RayActorError as e:
                raise PoolError(f"a worker died while starting: {_first_line(e)}") from None

    def replace(self, slot: _Slot) -> None:
        """A new actor in a dead one's place, started with every proof learned so far."""
        with contextlib.suppress(Exception):
            self.ray.kill(slot.actor)
        slot.actor = self._actor()
        self._await_ready([slot])

    def broadcast(self, steps: Sequence[tuple[str, str]], but: _Slot) -> None:
        self.learned.append(steps)
        for s in self.slots:
            if s is not but:
                s.actor.learn.remote(steps)

    def memory(self) -> list[dict[str, Any]]:
        """Each worker's `ProverWorker.memory`, asked on its control thread (no wait for the
        attempt it runs)."""
        refs = [s.actor.memory.options(concurrency_group="control").remote() for s in self.slots]
        return [self.ray.get(r, timeout=60) for r in refs]

    def shutdown(self, interrupted: bool) -> None:
        """End every worker: close its env (when idle: a normal end), kill what it started,
        kill the actor. Interrupted (Ctrl-C, an error), attempts may still run: their
        processes are killed at once, from the worker's control thread."""
        ray = self.ray
        if not interrupted:
            closes = [s.actor.close.remote() for s in self.slots]
            with contextlib.suppress(Exception):
                ray.wait(closes, num_returns=len(closes), timeout=CLOSE_TIMEOUT_S)
        stops = [s.actor.stop.options(concurrency_group="control").remote() for s in self.slots]
        with contextlib.suppress(Exception):
            ray.wait(stops, num_returns=len(stops), timeout=10)
        for s in self.slots:
            with contextlib.suppress(Exception):
                ray.kill(s.actor)


def _get(ray: Any, ref: Any) -> Any:
    """`ray.get`, raising the exception the worker raised (not Ray's wrapper around it) for
    an error inside a task; a dead actor still raises Ray's `RayActorError`."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise


@contextlib.contextmanager
def ray_session(config: PoolConfig) -> Iterator[Any]:
    """Ray, connected: to `config.ray_address`, or to a local instance started here and shut
    down on exit (Ctrl-C and SIGTERM included)."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is a dependency
        raise PoolError(f"Ray is not installed ({e}): run `make setup`") from None
    if ray.is_initialized():  # a caller's session (e.g. a notebook, a test): use it as it is
        yield ray
        return
    logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if config.ray_address:
        options["address"] = config.ray_address
    else:
        options["num_cpus"] = max(config.workers or 0, os.cpu_count() or 1)
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = config.ray_address or "a local instance"
        raise PoolError(f"could not start Ray ({where}): {e}") from None
    main = threading.current_thread() is threading.main_thread()  # where handlers can be set
    previous = signal.getsignal(signal.SIGTERM) if main else None
    if main:
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up as Ctrl-C does
    try:
        yield ray
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        ray.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def default_workers(ray: Any, config: PoolConfig) -> int:
    if config.workers is not None:
        return config.workers
    if config.ray_address:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    return os.cpu_count() or 1


@contextlib.contextmanager
def start_pool(
    make_env: Callable[[], ProofEnv],
    policy: TacticPolicy,
    config: PoolConfig,
    *,
    jobs: int | None = None,
    learned: Sequence[Sequence[tuple[str, str]]] = (),
) -> Iterator[Pool]:
    """Ray connected, the workers started and ready (no more than `jobs`, the theorems to
    attempt; each told the proofs `learned` before); all of it stopped on exit."""
    with ray_session(config) as ray:
        workers = default_workers(ray, config)
        if workers < 1:
            raise PoolError(f"--workers must be at least 1, got {workers}")
        if jobs is not None:
            workers = max(1, min(workers, jobs))
        pool = Pool(ray, make_env, policy, workers, config.start_timeout_s, learned)
        interrupted = True
        try:
            yield pool
            interrupted = False
        finally:
            pool.shutdown(interrupted)


def run_pool(
    pool: Pool,
    theorems: Sequence[Theorem],
    search_config: SearchConfig,
    recorder: Recorder | None = None,
    *,
    allow_original_axioms: bool = False,
    discard_unusable: bool = True,
    on_busy: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, EpisodeResult]]:
    """Attempt `theorems` on the pool's workers; yields (index in `theorems`, result) as each
    finishes, after the recorder has it. A run error raised in a worker (missing toolchain,
    an unopenable theorem without `discard_unusable`) is raised here."""
    ray = pool.ray
    queue = deque(_Job(k, t) for k, t in enumerate(theorems))
    running: dict[Any, tuple[_Slot, _Job]] = {}
    while queue or running:
        for slot in pool.slots:
            if slot.busy or not queue:
                continue
            job = _next_job(queue, slot, len(pool.slots))
            if job is None:
                continue
            job.tries += 1
            ref = slot.actor.attempt.remote(
                job.theorem, search_config, allow_original_axioms, discard_unusable
            )
            running[ref] = (slot, job)
            slot.busy = True
        if on_busy is not None:
            on_busy(len(running))
        (ref,), _ = ray.wait(list(running), num_returns=1)
        slot, job = running.pop(ref)
        slot.busy = False
        try:
            attempt: WorkerAttempt = _get(ray, ref)
        except ray.exceptions.RayActorError as e:
            dead = slot.name
            why = f"worker {dead} died: {_first_line(e)}"
            pool.replace(slot)
            failed = EpisodeResult(
                theorem=job.theorem.name, status=Status.ERROR, time_s=0.0, worker=dead
            )
            attempt = WorkerAttempt(failed, [], why)
        if attempt.crashed:
            job.why.append(attempt.crashed)
            if job.tries < 2:
                job.avoid = slot.index
                queue.appendleft(job)
                continue
        result = attempt.result
        if job.tries > 1:
            result = dataclasses.replace(result, retried=True)
        outcomes = attempt.outcomes
        if attempt.crashed:  # died twice: an error, and no outcome of a dead attempt is kept
            outcomes = []
            result = dataclasses.replace(
                result,
                status=Status.ERROR,
                reason="failed twice: " + "; then ".join(job.why),
            )
        if recorder is not None:
            for state, tactic, step, seconds, source in outcomes:
                recorder.outcome(job.theorem, state, tactic, step, seconds, source)
            recorder.finish(job.theorem, result)
        if result.proved:
            pool.broadcast(result.steps, but=slot)
        yield job.index, result


def _next_job(queue: deque[_Job], slot: _Slot, workers: int) -> _Job | None:
    """The first queued job this slot may take: a retry goes to another worker than the one
    it died on, unless there is only one."""
    for k, job in enumerate(queue):
        if job.avoid is None or job.avoid != slot.index or workers == 1:
            del queue[k]
            return job
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def run_parallel(
    make_env: Callable[[], ProofEnv],
    policy: TacticPolicy,
    theorems: Sequence[Theorem],
    search_config: SearchConfig,
    recorder: Recorder | None = None,
    *,
    pool: PoolConfig,
    desc: str,
    log: Callable[[str], None] | None = None,
    allow_original_axioms: bool = False,
    discard_unusable: bool = True,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
    quiet: bool = False,
) -> tuple[list[EpisodeResult], float]:
    """Every theorem on a pool of workers, with one progress bar (proved / attempted, rate,
    busy workers, ETA; none when `quiet`) and, with `log`, a line per theorem; the results in
    the order of `theorems`, and the wall time. `done`: results of an earlier, interrupted run
    by (file, theorem), not attempted again."""
    done = _rechecked(make_env, policy, theorems, done, allow_original_axioms)
    results: list[EpisodeResult | None] = [done.get((str(t.file), t.name)) for t in theorems]
    todo = [k for k, r in enumerate(results) if r is None]
    progress = LiveRate(len(theorems), desc, log, [r for r in results if r is not None], quiet)
    try:
        if todo:
            # an online policy knows the proofs the interrupted run found, as it would have
            learned = [r.steps for r in done.values() if r.proved]
            with start_pool(make_env, policy, pool, jobs=len(todo), learned=learned) as started:
                progress.workers = len(started.slots)
                runs = run_pool(
                    started,
                    [theorems[k] for k in todo],
                    search_config,
                    recorder,
                    allow_original_axioms=allow_original_axioms,
                    discard_unusable=discard_unusable,
                    on_busy=progress.busy,
                )
                for j, result in runs:
                    results[todo[j]] = result
                    progress.add(theorems[todo[j]].shown, result)
    finally:
        progress.close()  # the bar ends before any error is printed
    assert all(r is not None for r in results)
    return [r for r in results if r is not None], progress.wall_s


def run_episodes(
    make_env: Callable[[], ProofEnv],
    policy: TacticPolicy,
    theorems: Sequence[Theorem],
    search_config: SearchConfig,
    recorder: Recorder | None = None,
    *,
    pool: PoolConfig | None,
    desc: str,
    log: Callable[[str], None] | None = None,
    allow_original_axioms: bool = False,
    done: Mapping[tuple[str, str], EpisodeResult] | None = None,
) -> tuple[list[EpisodeResult], float]:
    """`run_parallel` on `pool`; with `pool=None`, the same theorems in this process, on one
    env from `make_env` (a library caller without Ray, a unit test's scripted env)."""
    if pool is not None:
        return run_parallel(
            make_env,
            policy,
            theorems,
            search_config,
            recorder,
            pool=pool,
            desc=desc,
            log=log,
            allow_original_axioms=allow_original_axioms,
            done=done,
        )
    done = _rechecked(make_env, policy, theorems, done, allow_original_axioms)
    todo = [t for t in theorems if (str(t.file), t.name) not in done]
    with make_env() as env:
        fresh, wall_s = run_all(
            env,
            policy,
            todo,
            search_config,
            recorder,
            desc=desc,
            log=log,
            allow_original_axioms=allow_original_axioms,
        )
    by_key = {**done, **{(str(t.file), t.name): r for t, r in zip(todo, fresh, strict=True)}}
    return [by_key[(str(t.file), t.name)] for t in theorems], wall_s


def _rechecked(
    make_env: Callable[[], ProofEnv],
    policy: TacticPolicy,
    theorems: Sequence[Theorem],
    done: Mapping[tuple[str, str], EpisodeResult] | None,
    allow_original_axioms: bool,
) -> dict[tuple[str, str], EpisodeResult]:
    """The earlier session's results of `theorems`, each recorded proof verified again here
    (`episodes.recheck`): what a resumed run reports was checked by this process."""
    if not done:
        return {}
    wanted = {(str(t.file), t.name): t for t in theorems}
    kept = {k: r for k, r in done.items() if k in wanted}
    if not any(r.proved for r in kept.values()):
        return kept
    with make_env() as env:
        return {
            k: recheck(
                env, wanted[k], r, policy.imports, allow_original_axioms=allow_original_axioms
            )
            for k, r in kept.items()
        }


__all__ = [
    "Pool",
    "PoolConfig",
    "PoolError",
    "ProverWorker",
    "WorkerAttempt",
    "default_workers",
    "ray_session",
    "run_episodes",
    "run_parallel",
    "run_pool",
    "start_pool",
]
