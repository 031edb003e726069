"""Child-process plumbing shared by the backends: memory caps, killing a whole process group,
and "restart once" around calls that may find the assistant dead."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from prover.envs.base import EnvError

T = TypeVar("T")


PR_SET_PDEATHSIG = 1  # prctl(2): the signal the child gets when its parent thread dies


def memory_cap(max_memory_mb: int) -> Callable[[], None]:
    """A `preexec_fn` for an assistant's process: its address space capped at
    `max_memory_mb`; SIGINT unblocked (a parent may run with it blocked — Ray's workers do —
    and the child would inherit that, so Coq's interrupt, which enforces a tactic's time
    limit, would never arrive); and SIGKILL when the thread that started it dies (a worker
    killed outright leaves no assistant running a tactic nobody will interrupt)."""
    limit = max_memory_mb * 1024 * 1024

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return setup


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # not Linux: no parent-death signal, the rest still applies
        return None


_LIBC = _libc()


def spawn(
    cmd: list[str],
    *,
    cwd: str | os.PathLike[str],
    env: dict[str, str],
    max_memory_mb: int,
    stdout: Any,
) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of its own process group (so `kill_group` reaches what it
    starts), with its address space capped and its output (stderr too) to `stdout`."""
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        preexec_fn=memory_cap(max_memory_mb),
        env=env,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the child's process group (children started with `start_new_session=True`),
    so helpers it spawned (ATPs, worker processes) go too; then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def with_restart(
    fn: Callable[[], T],
    *,
    died: tuple[type[BaseException], ...],
    restart: Callable[[], None],
    what: str,
) -> T:
    """Run `fn`; if the assistant died under it (`died`), `restart` and run it once more."""
    try:
        return fn()
    except died:
        restart()
    try:
        return fn()
    except died as e:
        restart()
        raise EnvError(f"{what} failed twice in a row: {e}") from e
