"""Child-process plumbing shared by the backends: memory caps, killing a whole process group,
and "restart once" around calls that may find the assistant dead."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from prover.envs.base import EnvError

T = TypeVar("T")


def memory_cap(max_memory_mb: int) -> Callable[[], None]:
    """A `preexec_fn` capping the child's address space at `max_memory_mb`."""
    limit = max_memory_mb * 1024 * 1024
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


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
