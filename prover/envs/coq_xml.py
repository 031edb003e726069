"""A `coqidetop` child process spoken to in Coq's XML protocol (protocol 20220205, Coq 8.16).

Calls used: Init, Add, Goal, Edit_at, Query, Quit. `Add` is lazy: a tactic runs when the
next `Goal` asks for the goals, so every step is Add + Goal, and the wall-clock deadline
watches the Goal call. At the deadline the process gets SIGINT ("User interrupt.", the
process survives); if it does not answer within `kill_grace_s`, it is killed and the caller
restarts it. See ../shared/notes/coq-interaction.md for the verified exchange.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import IO

from prover.envs.base import BackendUnavailable
from prover.envs.coq_project import coq_subprocess_env
from prover.envs.process import kill_group, memory_cap

COQIDETOP_CANDIDATES = ("coqidetop.opt", "coqidetop")


class CoqDied(Exception):
    """The coqidetop process exited or stopped answering; restart it."""


class CoqTimeout(Exception):
    """A call ran past its deadline; the process was interrupted and is still usable."""


@dataclass(frozen=True)
class CoqFail:
    """A `fail` answer: the message, and the state id Coq says to go back to."""

    message: str
    state_id: int


@dataclass(frozen=True)
class Goals:
    """The four goal lists of a Goal answer, each goal as pretty text."""

    foreground: tuple[str, ...]
    background: tuple[str, ...]
    shelved: tuple[str, ...]
    given_up: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.foreground or self.background or self.shelved or self.given_up)


def find_coqidetop() -> str:
    for name in COQIDETOP_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise BackendUnavailable(
        "coqidetop not found: install Coq 8.16 (`apt-get install -y coq`, or `make setup` as root)"
    )


def richpp_text(elem: ET.Element | None) -> str:
    """Plain text of a `<richpp>` element (markup dropped)."""
    if elem is None:
        return ""
    return "".join(elem.itertext())


def parse_answer(raw: bytes, messages: list[str] | None = None) -> ET.Element | CoqFail:
    """The `<value>` of one answer (feedback before it is skipped, or its messages' text
    appended to `messages`); a `fail` value becomes a `CoqFail`."""
    text = raw.decode("utf-8", errors="replace").replace("&nbsp;", " ")
    start = text.rfind("<value ")
    if messages is not None and text[:start].strip():
        feedback = ET.fromstring(f"<root>{text[:start]}</root>")
        messages.extend(richpp_text(m.find("richpp")) for m in feedback.iter("message"))
    value = ET.fromstring(text[start:])
    if value.get("val") == "good":
        return value
    sid_elem = value.find("state_id")
    sid = int(sid_elem.get("val", "-1")) if sid_elem is not None else -1
    return CoqFail(" ".join(richpp_text(value.find("richpp")).split()), sid)


def parse_goals(value: ET.Element) -> Goals:
    """The goals of a `Goal` answer: foreground, background, shelved, given up."""
    goals = value.find("option/goals")
    if goals is None:
        return Goals((), (), (), ())
    lists = goals.findall("list")
    fg = tuple(_goal_text(g) for g in lists[0].findall("goal"))
    bg = tuple(_goal_text(g) for g in lists[1].iter("goal"))
    shelved = tuple(_goal_text(g) for g in lists[2].findall("goal"))
    given_up = tuple(_goal_text(g) for g in lists[3].findall("goal"))
    return Goals(fg, bg, shelved, given_up)


def _goal_text(goal: ET.Element) -> str:
    """Hypotheses one per line, the `====` rule, the conclusion (whitespace collapsed)."""
    hyp_list = goal.find("list")
    hyps = (
        []
        if hyp_list is None
        else [" ".join(richpp_text(h).split()) for h in hyp_list.findall("richpp")]
    )
    concl = " ".join(richpp_text(goal.findall("richpp")[-1]).split())
    return "\n".join([*hyps, "============================", concl])


def _state_id(value: ET.Element, path: str) -> int:
    elem = value.find(path)
    if elem is None or elem.get("val") is None:
        raise CoqDied(f"unexpected coqidetop answer: {ET.tostring(value, encoding='unicode')}")
    return int(elem.get("val"))  # type: ignore[arg-type]


def _encode_string(s: str) -> str:
    return f"<string>{escape(s, quote=False)}</string>"


class CoqProcess:
    """One coqidetop process. Not thread-safe; one call at a time."""

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        cwd: str | None = None,
        max_memory_mb: int = 8192,
        kill_grace_s: float = 1.0,  # Coq answers SIGINT within milliseconds when it can
    ) -> None:
        exe = find_coqidetop()
        self.kill_grace_s = kill_grace_s
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._tmpdir = tempfile.TemporaryDirectory(prefix="springtail-coq-")
        self.proc = subprocess.Popen(
            # -q: no coqrc (a user's startup file would run in every session, the audit's too)
            [exe, "-q", "-main-channel", "stdfds", "-async-proofs", "off", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=cwd or self._tmpdir.name,  # files Coq writes by relative path land here
            env=coq_subprocess_env(self._tmpdir.name),
            preexec_fn=memory_cap(max_memory_mb),
            start_new_session=True,  # a SIGINT meant for us never reaches Coq by accident
        )
        self.died = False  # closed its output unasked
        self.killed = False  # `kill` ended it
        self._buf = b""
        self.messages: list[str] = []  # notices from feedback since the last call
        try:
            self.root_state = self._init()
        except BaseException:
            self.close()
            raise

    # --- calls -----------------------------------------------------------------------------

    def _init(self) -> int:
        value = self.call('<call val="Init"><option val="none"/></call>', deadline_s=60)
        if isinstance(value, CoqFail):
            raise CoqDied(f"coqidetop refused Init: {value.message}")
        return _state_id(value, "state_id")

    def add(self, sentence: str, parent: int, deadline_s: float = 60) -> int | CoqFail:
        """Add `sentence` on top of state `parent` (which must be the tip); parsing it is
        quick, but a stopped or stuck process must not hold the caller past `deadline_s`."""
        payload = (
            '<call val="Add"><pair><pair><pair><pair>'
            f'{_encode_string(sentence)}<int>-1</int></pair><pair><state_id val="{parent}"/>'
            '<bool val="true"/></pair></pair><int>0</int></pair><pair><int>0</int><int>0</int>'
            "</pair></pair></call>"
        )
        value = self.call(payload, deadline_s=deadline_s)
        if isinstance(value, CoqFail):
            return value
        return _state_id(value, "pair/state_id")

    def goals(
        self, deadline_s: float | None = None, *, keep_messages: bool = False
    ) -> Goals | CoqFail:
        """Goals at the tip; runs pending sentences, so this is where tactics time out. With
        `keep_messages`, what the sentences printed is in `self.messages` afterwards."""
        if keep_messages:
            self.messages = []
        value = self.call(
            '<call val="Goal"><unit/></call>', deadline_s=deadline_s, keep_messages=keep_messages
        )
        return value if isinstance(value, CoqFail) else parse_goals(value)

    def edit_at(self, state_id: int) -> None | CoqFail:
        value = self.call(f'<call val="Edit_at"><state_id val="{state_id}"/></call>', deadline_s=60)
        return value if isinstance(value, CoqFail) else None

    def query(self, text: str, state_id: int, deadline_s: float = 60) -> str | CoqFail:
        """Run a query command (e.g. `Print Assumptions x.`) at `state_id`; its printed text."""
        payload = (
            '<call val="Query"><pair><route_id val="0"/><pair>'
            f'{_encode_string(text)}<state_id val="{state_id}"/></pair></pair></call>'
        )
        self.messages = []
        value = self.call(payload, deadline_s=deadline_s, keep_messages=True)
        if isinstance(value, CoqFail):
            return value
        return "\n".join(self.messages)

    # --- transport -------------------------------------------------------------------------

    def call(
        self, payload: str, *, deadline_s: float | None, keep_messages: bool = False
    ) -> ET.Element | CoqFail:
        if self.proc.poll() is not None:
            raise CoqDied(f"coqidetop exited with code {self.proc.returncode}{self._stderr_tail()}")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(payload.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise CoqDied(f"coqidetop pipe closed: {e}") from e
        raw = self._read_value(deadline_s)
        return parse_answer(raw, self.messages if keep_messages else None)

    def _read_value(self, deadline_s: float | None) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        interrupted = False
        while True:
            end = self._buf.find(b"</value>")
            if end >= 0:
                raw, self._buf = self._buf[: end + 8], self._buf[end + 8 :]
                if interrupted:
                    raise CoqTimeout(raw.decode(errors="replace"))
                return raw
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.died = True
                    self.kill()
                    raise CoqDied(f"coqidetop closed its output{self._stderr_tail()}")
                self._buf += chunk
            elif not interrupted:
                self.interrupt()
                interrupted = True
                deadline = time.monotonic() + self.kill_grace_s
            else:
                self.kill()
                raise CoqDied("coqidetop did not answer an interrupt; killed it")

    # --- lifecycle -------------------------------------------------------------------------

    def interrupt(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.alive:
            self.killed = True
        kill_group(self.proc)

    @property
    def crashed(self) -> bool:
        """It ended (or closed its output) on its own or by another's hand, not by `kill`."""
        return self.died or (not self.alive and not self.killed)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive:
            try:
                self.call('<call val="Quit"><unit/></call>', deadline_s=2)
            except (CoqDied, CoqTimeout):
                pass
        self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()
        self._tmpdir.cleanup()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-500:].decode(errors="replace").strip()
        return f": {tail}" if tail else ""


def format_goals(goals: Goals) -> str:
    """Goals as one text: focused then unfocused goals (tactics act on the first one), each as
    hypotheses, a `====` rule and the conclusion, separated by blank lines; "no goals" if none."""
    if goals.is_empty:
        return "no goals"
    parts = [*goals.foreground, *goals.background]
    if goals.shelved:
        parts += ["(shelved goals)", *goals.shelved]
    return "\n\n".join(parts)
