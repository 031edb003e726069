"""The `ProofEnv` protocol every proof-assistant backend implements, and its outcome types.

A proof state is the assistant's own pretty-printed goal text plus an opaque integer handle.
`ProofEnv.step(state, tactic)` returns exactly one of:

- `Progress(state)`: the tactic ran and goals remain;
- `Proved(proof)`: no goals remain; `proof` is the tactic list from the theorem's root;
- `Failed(message)`: the assistant rejected the tactic (its own message), or the env refused it;
- `TimedOut(timeout_s)`: the tactic ran past the per-tactic limit (the state stays usable).

Handles stay valid for the lifetime of the env: search may step from any earlier state, and a
crashed assistant is restarted behind the caller's back.

`Proved` from `step` is a claim of the interactive session only; `ProofEnv.verify` re-checks
the whole proof from scratch as a file and lists its axioms, and nothing is reported as proved
until it says yes. Its verdict carries a `Status` (`PROVED`, `USES_AXIOM`, `REJECTED`), so
callers branch on the status, never on the reason's text.

This package is the only place that knows an assistant's syntax: `ProofEnv.format_proof`
gives the text a user pastes (Coq's `Proof. ... Qed.`, Lean's `by ...`).
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")
_HANDLES = itertools.count()


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Each dotted name shortened to its shortest suffix that no other name ends with
    (`A.t`, `B.t`, `app_assoc`); linear in the total length."""
    counts = Counter(
        ".".join(parts[-k:])
        for parts in (n.split(".") for n in set(names))
        for k in range(1, len(parts) + 1)
    )
    out = {}
    for name in names:
        parts = name.split(".")
        suffixes = (".".join(parts[-k:]) for k in range(1, len(parts) + 1))
        out[name] = next((x for x in suffixes if counts[x] == 1), name)
    return out


def fresh_handle() -> int:
    """A state handle that no env in this process has given out before: a state passed to
    the wrong env is then an unknown handle, never a state of some other theorem there."""
    return next(_HANDLES)


PROGRAM_NAME = r"st_[0-9a-f]{8}"  # a tactic library program: st_ + 8 hex of its body's hash
PARAM_NAME = r"x\d"  # a library program's parameters: x0 ... x9
QUALID_RE = re.compile(
    r"[A-Za-z_\u00C0-\uFFFF][\w'\u00C0-\uFFFF]*(?:\.[A-Za-z_\u00C0-\uFFFF][\w'\u00C0-\uFFFF]*)*"
)


def valid_axiom_name(name: str) -> bool:
    """Whether `name` is a qualified identifier (`Coq.Logic.Classical_Prop.classic`,
    `Classical.choice`): the only form an allowed axiom may take."""
    return QUALID_RE.fullmatch(name) is not None


class EnvError(Exception):
    """A problem the caller must fix (bad file, unknown theorem, missing toolchain).

    The message says what is wrong and what to do; the CLI prints it and exits 2.
    """


class BackendUnavailable(EnvError):
    """The proof assistant this backend drives is not installed or not usable here."""


class DependencyNotBuilt(EnvError):
    """The file needs a library of its project that is not compiled (or out of date)."""


class TheoremNotFound(EnvError):
    """The file holds no theorem of that name."""


class ImportRejected(EnvError):
    """An extra import cannot be placed before the theorem (e.g. it would load the compiled
    copy of the very file being proved)."""


@dataclass(frozen=True)
class ProofState:
    """One proof state: the assistant's goal text, the number of open goals, an opaque handle."""

    text: str
    handle: int
    num_goals: int


@dataclass(frozen=True)
class Progress:
    state: ProofState


@dataclass(frozen=True)
class Proved:
    proof: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class TimedOut:
    timeout_s: float


StepResult = Progress | Proved | Failed | TimedOut


class Status(StrEnum):
    """What became of a theorem (an episode's outcome) or of a proof (a verify verdict).

    Its values are the strings the JSON outputs show."""

    PROVED = "proved"  # verify accepted the whole proof
    USES_AXIOM = "uses_axiom"  # verify refused it only for axioms that are not allowed
    REJECTED = "rejected"  # verify refused it (any other reason, or an episode's refused proof)
    FAILED = "failed"  # search exhausted the tree
    BUDGET = "budget"  # a search budget ran out
    DISCARDED = "discarded"  # the theorem could not be opened (not counted as attempted)
    ERROR = "error"  # the proof assistant (or the worker running it) failed during the attempt


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a whole-file recheck. Truthy exactly when the proof is accepted; `status`
    is `PROVED` then, `USES_AXIOM` when only disallowed axioms stand in the way (`reason`
    names them), `REJECTED` otherwise."""

    ok: bool
    reason: str = ""
    axioms: tuple[str, ...] = ()
    time_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    only_axioms: bool = False  # refused for nothing but axioms that are not allowed

    @property
    def status(self) -> Status:
        if self.ok:
            return Status.PROVED
        return Status.USES_AXIOM if self.only_axioms else Status.REJECTED

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class TheoremInfo:
    """A theorem found in a source file: its name, 1-based line, and whether it has a proof."""

    name: str
    line: int
    has_proof: bool


class ProofEnv(abc.ABC):
    """A live connection to one proof assistant. Use as a context manager."""

    name: str = "abstract"
    # times the assistant's process died under this env (crashed, or was killed from outside;
    # not the ones the env killed itself after a timeout): an attempt during which it grew ran
    # partly on a process that is gone, so a driver may retry it
    crashes: int = 0

    @abc.abstractmethod
    def open(self, *, file: str | Path, theorem: str, imports: Sequence[str] = ()) -> ProofState:
        """Start proving `theorem` of `file`; returns the statement's goal (its own proof is
        ignored). `imports` are extra import commands placed just before the theorem."""

    @abc.abstractmethod
    def step(self, state: ProofState, tactic: str, timeout_s: float | None = None) -> StepResult:
        """Run one tactic on `state`; never raises for a bad tactic. `timeout_s` overrides the
        env's per-tactic limit for this call (a slow, expensive candidate such as CoqHammer)."""

    @abc.abstractmethod
    def verify(
        self,
        *,
        file: str | Path,
        theorem: str,
        proof: Sequence[str],
        imports: Sequence[str] = (),
        allowed_axioms: Sequence[str] = (),
    ) -> VerifyResult:
        """Re-check `proof` of `theorem` from scratch as a whole file, axioms included.
        `allowed_axioms` are accepted on top of the ones the env was configured with (never
        an admitted lemma)."""

    def original_axioms(self, file: str | Path, theorem: str) -> tuple[str, ...] | None:
        """The axioms the theorem's own proof in `file` rests on (kernel names, as far as the
        audit got when that proof does not check), or None when the backend cannot say or
        the theorem has no proof. Evaluations on library theorems allow exactly these for a
        found proof."""
        return None

    @abc.abstractmethod
    def format_proof(self, tactics: Sequence[str]) -> str:
        """The proof as the text a user pastes after the statement (Coq: `Proof. ... Qed.`)."""

    @abc.abstractmethod
    def theorems(self, file: str | Path) -> list[TheoremInfo]:
        """The theorems of `file`, in source order."""

    @abc.abstractmethod
    def check_file(
        self, file: str | Path, *, allowed_axioms: Sequence[str] = ()
    ) -> dict[str, VerifyResult]:
        """Re-check every theorem of `file` with its own proof, axioms audited
        (`allowed_axioms` on top of the configured ones)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the assistant's process; the env cannot be used afterwards."""

    def __enter__(self) -> ProofEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def config_from_options(cls: type[C], options: dict[str, object], backend: str) -> C:
    """Build a frozen config dataclass from `get_env` keyword options: unknown names are an
    `EnvError`, and lists given for tuple-typed fields become tuples."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise EnvError(f"unknown {backend} option(s): {', '.join(unknown)}")
    values = {
        k: tuple(cast(Iterable[object], v)) if str(fields[k].type).startswith("tuple") else v
        for k, v in options.items()
    }
    return cls(**values)
