"""The Coq backend: a real `coqidetop` process, addressable proof states, `coqc` re-checks.

How states are addressed. coqidetop keeps one linear document; `Edit_at` to an earlier state
discards everything after it. The env therefore remembers, for each handle, the theorem it
belongs to and the tactic path from the theorem's statement, and keeps the chain of live
coqidetop states from the statement to the tip. Stepping from a handle backtracks to the
longest live prefix of its path (`Edit_at`) and re-runs only the tactics after it; the file
prefix before the theorem is never replayed while the process lives. A crashed or killed
process is restarted and the prefix and path replayed, invisibly to the caller but for time.

Timeouts. The per-tactic limit is a wall-clock deadline on the Goal call that runs the
tactic; at the deadline coqidetop gets SIGINT (it answers "User interrupt." and survives);
if it stays silent it is killed and restarted on the next call.
"""

from __future__ import annotations

import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import (
    DependencyNotBuilt,
    EnvError,
    Failed,
    ImportRejected,
    Progress,
    ProofEnv,
    ProofState,
    Proved,
    StepResult,
    TheoremInfo,
    TimedOut,
    VerifyResult,
    config_from_options,
    fresh_handle,
    valid_axiom_name,
)
from prover.envs.coq_compile import CheckOptions, missing_dependency
from prover.envs.coq_library import private_copy
from prover.envs.coq_source import (
    CoqDocument,
    TacticSentence,
    check_tactic,
    load_document,
)
from prover.envs.coq_verify import check_file, verify_proof
from prover.envs.coq_xml import CoqDied, CoqFail, CoqProcess, CoqTimeout, Goals, format_goals
from prover.envs.process import T, with_restart


@dataclass(frozen=True)
class CoqConfig:
    tactic_timeout: float = 5.0  # seconds per tactic
    prefix_timeout: float = 600.0  # seconds per sentence of the file before the theorem
    verify_timeout: float = 600.0  # seconds for a whole-file `coqc` re-check
    max_memory_mb: int = 8192  # address-space cap of each Coq process
    allowed_axioms: tuple[str, ...] = ()  # axioms `verify` accepts (never admitted lemmas)
    allow_impredicative_set: bool = False  # accept a project's -impredicative-set (reported)
    coq_args: tuple[str, ...] = ()  # extra flags for coqidetop and coqc
    library: str = ""  # a folder with a generated SpringtailLib.v (`springtail introspect`)

    def __post_init__(self) -> None:
        for name in ("tactic_timeout", "prefix_timeout", "verify_timeout"):
            value = getattr(self, name)
            if not (0 < value < float("inf")):
                raise EnvError(f"{name} must be a positive, finite number of seconds, got {value}")
        _check_axiom_names(self.allowed_axioms)

    def check_options(self, allowed_axioms: Sequence[str] = ()) -> CheckOptions:
        """The options of one check: the config's allowed axioms and these."""
        _check_axiom_names(allowed_axioms)
        allowed = tuple(dict.fromkeys((*self.allowed_axioms, *allowed_axioms)))
        return CheckOptions(
            allowed, self.allow_impredicative_set, self.verify_timeout, self.max_memory_mb
        )


def _check_axiom_names(names: Sequence[str]) -> None:
    bad = [a for a in names if not valid_axiom_name(a)]
    if bad:
        raise EnvError(
            f"allowed axiom {bad[0]!r} is not a Coq qualified identifier "
            "(e.g. Coq.Logic.Classical_Prop.classic)"
        )


@dataclass(frozen=True)
class _Root:
    """A theorem opened for proving: its file, statement index and extra imports."""

    path: Path
    index: int
    imports: tuple[str, ...]


@dataclass(frozen=True)
class _Handle:
    root: _Root
    path: tuple[TacticSentence, ...]


class CoqEnv(ProofEnv):
    """`ProofEnv` over one coqidetop process (see module docstring)."""

    name = "coq"

    def __init__(self, config: CoqConfig | None = None) -> None:
        self.config = config or CoqConfig()
        self._docs: dict[Path, tuple[float, CoqDocument]] = {}
        self._proc: CoqProcess | None = None
        self._proc_key: tuple[tuple[str, ...], Path] | None = None  # (flags, cwd)
        self._doc: CoqDocument | None = None  # the document loaded in the process
        self._doc_sids: list[int] = []  # state ids of its first len() sentences, all live
        self._root: _Root | None = None
        self._chain: list[tuple[TacticSentence, int]] = []  # live tactic states above the root
        self._slow: dict[str, float] = {}  # tactic sent -> the longer limit it succeeded under
        self._root_sid = -1
        self._handles: dict[int, _Handle] = {}
        # the handles of each opened theorem, least recently opened first: an env that proves
        # theorem after theorem forgets the states of all but the last KEEP_THEOREMS
        self._root_handles: OrderedDict[_Root, list[int]] = OrderedDict()
        self._closed = False
        self.restarts = 0
        self.crashes = 0
        # Springtail's own checked and compiled copy of the library, if one is given
        self._library = private_copy(Path(self.config.library)) if self.config.library else None

    # --- public API ------------------------------------------------------------------------

    def document(self, file: str | Path) -> CoqDocument:
        try:
            p = Path(file).resolve()
        except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
            raise EnvError(f"{file}: cannot resolve the path ({e})") from e
        mtime = p.stat().st_mtime if p.exists() else -1.0
        cached = self._docs.get(p)
        if cached is None or cached[0] != mtime:
            cached = (
                mtime,
                load_document(
                    p,
                    self.config.coq_args,
                    allow_impredicative_set=self.config.allow_impredicative_set,
                    library=self._library,
                ),
            )
            self._docs[p] = cached
        return cached[1]

    def theorems(self, file: str | Path) -> list[TheoremInfo]:
        doc = self.document(file)
        return [TheoremInfo(doc.short_name(t), t.line, t.has_proof) for t in doc.theorems if t.name]

    def open(self, *, file: str | Path, theorem: str, imports: Sequence[str] = ()) -> ProofState:
        self._check_open()
        doc = self.document(file)
        thm = doc.find(theorem)
        root = _Root(doc.ctx.path, thm.index, tuple(imports))
        self._remember(root)
        goals = self._with_restart(lambda: self._enter_root(root))
        if not goals.foreground:
            raise EnvError(f"{theorem}: the statement opened no goal in {doc.ctx.path}")
        return self._new_state(_Handle(root, ()), goals)

    def step(self, state: ProofState, tactic: str, timeout_s: float | None = None) -> StepResult:
        checked = check_tactic(tactic)
        if isinstance(checked, str):
            return Failed(checked)
        self._check_open()
        handle = self._handles.get(state.handle)
        if handle is None:
            raise EnvError(
                f"unknown state handle {state.handle}: states come from this env's open/step "
                f"(not from another env), and only those of its last {KEEP_THEOREMS} opened "
                "theorems are kept"
            )
        try:
            parent = self._with_restart(lambda: self._materialize(handle))
        except _ReplayFailed as e:
            return Failed(f"could not rebuild this state: {e}")
        return self._run_tactic(handle, parent, checked, timeout_s or self.config.tactic_timeout)

    def verify(
        self,
        *,
        file: str | Path,
        theorem: str,
        proof: Sequence[str],
        imports: Sequence[str] = (),
        allowed_axioms: Sequence[str] = (),
    ) -> VerifyResult:
        doc = self.document(file)
        thm = doc.find(theorem)
        opts = self.config.check_options(allowed_axioms)
        wrapped = []
        for tac in proof:
            checked = check_tactic(tac)
            if isinstance(checked, str):
                return VerifyResult(False, f"tactic {tac!r} {checked}")
            wrapped.append(checked.wrapped)
        return verify_proof(doc, thm, wrapped, imports=tuple(imports), opts=opts)

    def check_file(
        self, file: str | Path, *, allowed_axioms: Sequence[str] = ()
    ) -> dict[str, VerifyResult]:
        """Every theorem of `file` with its own proof, keyed by kernel name (see
        `coq_verify.check_file`)."""
        opts = self.config.check_options(allowed_axioms)
        return check_file(self.document(file), opts)

    def format_proof(self, tactics: Sequence[str]) -> str:
        return format_coq_proof(tactics)

    def original_axioms(self, file: str | Path, theorem: str) -> tuple[str, ...] | None:
        """Axioms (kernel names) the theorem's own proof in `file` uses, or None if it does
        not check."""
        doc = self.document(file)
        thm = doc.find(theorem)
        if not thm.has_proof:
            return None
        body = [doc.sentences[i].text for i in (*thm.proof, thm.end_index)]
        res = verify_proof(doc, thm, body, imports=(), opts=self.config.check_options(), raw=True)
        if res.ok:
            return res.axioms
        return res.details.get("axioms_used") if res.details else None

    def close(self) -> None:
        self._closed = True
        if self._library is not None:
            shutil.rmtree(self._library, ignore_errors=True)
        if self._proc is not None:
            self._proc.close()
            self._proc = None

    def _check_open(self) -> None:
        if self._closed:
            raise EnvError("this Coq env is closed: start a new one with get_env('coq')")

    # --- stepping --------------------------------------------------------------------------

    def _run_tactic(
        self, handle: _Handle, parent: int, tac: TacticSentence, limit: float
    ) -> StepResult:
        proc = self._proc
        assert proc is not None
        hammer = _HAMMER_RE.search(tac.text) is not None
        try:
            sid = proc.add(tac.wrapped, parent, deadline_s=limit)
            if isinstance(sid, CoqFail):  # a parse error: nothing was added
                return Failed(sid.message)
            goals = proc.goals(deadline_s=limit, keep_messages=hammer)
        except CoqTimeout:
            self._back_to(parent)
            return TimedOut(limit)
        except CoqDied as e:
            self._forget_process()
            if "did not answer an interrupt" in str(e):
                return TimedOut(limit)
            return Failed(f"Coq crashed running this tactic (restarted): {e}")
        if isinstance(goals, CoqFail):
            self._back_to(parent)
            return Failed(goals.message)
        if goals.given_up:
            self._back_to(parent)
            return Failed("refused: the tactic gave up goals (admit)")
        if hammer:
            found = self._reconstructed(parent, tac, sid, goals, limit)
            if found is None:
                return Failed("hammer succeeded, then failed when run again for its state")
            tac, sid = found
        if limit > self.config.tactic_timeout:
            self._slow[tac.wrapped] = limit
        self._chain.append((tac, sid))
        new = _Handle(handle.root, handle.path + (tac,))
        if goals.is_empty:
            return Proved(tuple(t.text for t in new.path))
        return Progress(self._new_state(new, goals))

    def _reconstructed(
        self, parent: int, tac: TacticSentence, sid: int, goals: Goals, limit: float
    ) -> tuple[TacticSentence, int] | None:
        """The step to record for a `hammer.` that just succeeded from `parent` with `goals`
        (the tip is its state): CoqHammer's reconstruction (`_reconstruction`) with its state
        when it reaches the very same goals; else `hammer.` itself, run again from `parent`;
        None if that fails this time (the tip is then back at `parent`)."""
        proc = self._proc
        assert proc is not None
        recon = _reconstruction(proc.messages, tac)
        if recon is tac:
            return tac, sid
        for attempt in (recon, tac):
            self._back_to(parent)
            if self._proc is None:
                return None
            try:
                new = proc.add(attempt.wrapped, parent, deadline_s=limit)
                again = new if isinstance(new, CoqFail) else proc.goals(deadline_s=limit)
            except (CoqTimeout, CoqDied):
                continue
            if isinstance(new, int) and isinstance(again, Goals) and again == goals:
                return attempt, new
        self._back_to(parent)
        return None

    def _back_to(self, parent: int) -> None:
        """Undo a failed tactic: the tip goes back to `parent`."""
        assert self._proc is not None
        try:
            self._proc.edit_at(parent)
        except (CoqDied, CoqTimeout):
            self._forget_process()

    def _remember(self, root: _Root) -> None:
        """`root` is the most recently opened theorem; forget the states of the oldest beyond
        KEEP_THEOREMS."""
        self._root_handles.setdefault(root, [])
        self._root_handles.move_to_end(root)
        while len(self._root_handles) > KEEP_THEOREMS:
            _, keys = self._root_handles.popitem(last=False)
            for key in keys:
                self._handles.pop(key, None)

    def _new_state(self, handle: _Handle, goals: Goals) -> ProofState:
        key = fresh_handle()
        self._handles[key] = handle
        self._root_handles[handle.root].append(key)
        num = len(goals.foreground) + len(goals.background) + len(goals.shelved)
        return ProofState(text=format_goals(goals), handle=key, num_goals=num)

    def _materialize(self, handle: _Handle) -> int:
        """Make the state of `handle` the tip; return its coqidetop state id."""
        if self._proc is not None and not self._proc.alive:
            self._forget_process()  # died since the last call (crash, OOM, killed)
        if self._root != handle.root or self._proc is None:
            self._enter_root(handle.root)
        proc = self._proc
        assert proc is not None
        k = 0
        while (
            k < len(self._chain)
            and k < len(handle.path)
            and self._chain[k][0].wrapped == handle.path[k].wrapped
        ):
            k += 1
        sid = self._chain[k - 1][1] if k else self._root_sid
        if k < len(self._chain):
            self._edit_at(sid)
            del self._chain[k:]
        for tac in handle.path[k:]:
            # a step that ran under its own, longer limit (CoqHammer) gets that limit again
            limit = max(self.config.tactic_timeout * 4, self._slow.get(tac.wrapped, 0.0))
            new = proc.add(tac.wrapped, sid, deadline_s=limit)
            goals = new if isinstance(new, CoqFail) else proc.goals(limit)
            if isinstance(goals, CoqFail):
                self._edit_at(sid)
                raise _ReplayFailed(f"{tac.text!r} failed on replay: {goals.message}")
            assert isinstance(new, int)
            self._chain.append((tac, new))
            sid = new
        return sid

    def _edit_at(self, sid: int) -> None:
        assert self._proc is not None
        fail = self._proc.edit_at(sid)
        if fail is not None:
            raise CoqDied(f"Edit_at {sid} failed: {fail.message}")

    # --- documents and roots ---------------------------------------------------------------

    def _enter_root(self, root: _Root) -> Goals:
        doc = self.document(root.path)
        self._ensure_process(doc)
        proc = self._proc
        assert proc is not None
        self._root, self._chain = None, []
        if self._doc is None or self._doc.ctx.path != doc.ctx.path or self._doc is not doc:
            self._doc, self._doc_sids = doc, []
        keep = min(len(self._doc_sids), root.index)
        base = self._doc_sids[keep - 1] if keep else proc.root_state
        self._edit_at(base)
        del self._doc_sids[keep:]
        for sentence in doc.sentences[keep : root.index]:
            base = self._add_checked(base, sentence.text, f"line {sentence.line}")
            self._doc_sids.append(base)
        for imp in root.imports:
            try:
                base = self._add_checked(base, imp, f"import {imp!r}")
            except EnvError as e:
                raise ImportRejected(str(e)) from e
        stmt = doc.sentences[root.index]
        sid = self._add_checked(base, stmt.text, f"the statement at line {stmt.line}")
        goals = proc.goals(self.config.prefix_timeout)
        assert not isinstance(goals, CoqFail)
        self._root, self._root_sid = root, sid
        return goals

    def _add_checked(self, parent: int, text: str, where: str) -> int:
        proc = self._proc
        assert proc is not None
        sid = proc.add(text, parent)
        goals = sid if isinstance(sid, CoqFail) else proc.goals(self.config.prefix_timeout)
        if isinstance(goals, CoqFail):
            self._edit_at(parent)
            if self._doc is not None:
                missing = missing_dependency(goals.message + " ", self._doc)
                if missing:
                    raise DependencyNotBuilt(missing)
            path = self._doc.ctx.path if self._doc else "?"
            raise EnvError(f"{path}: Coq rejected {where}: {goals.message}")
        assert isinstance(sid, int)
        return sid

    def _ensure_process(self, doc: CoqDocument) -> None:
        key = (doc.ctx.ide_args, doc.ctx.cwd)
        if self._proc is not None and self._proc.alive and self._proc_key == key:
            return
        self._forget_process()
        self._proc = CoqProcess(doc.ctx.ide_args, max_memory_mb=self.config.max_memory_mb)
        self._proc_key = key

    def _forget_process(self) -> None:
        if self._proc is not None:
            self.crashes += self._proc.crashed
            self._proc.kill()
            self._proc.close()
            self.restarts += 1
        self._proc, self._doc, self._doc_sids = None, None, []
        self._root, self._chain, self._root_sid = None, [], -1

    def _with_restart(self, fn: Callable[[], T]) -> T:
        return with_restart(
            fn, died=(CoqDied, CoqTimeout), restart=self._forget_process, what="Coq"
        )


def format_coq_proof(tactics: Sequence[str]) -> str:
    """The proof as a user pastes it after the statement."""
    return "\n".join(["Proof.", *(f"  {t}" for t in tactics), "Qed."])


KEEP_THEOREMS = 16  # opened theorems whose states stay addressable (memory stays bounded)
_HAMMER_RE = re.compile(r"(?<![\w'.])hammer(?![\w'])")
_RECONSTRUCTION_RE = re.compile(r"Replace the hammer tactic with:\s*(.+?)\s*$", re.S)
# CoqHammer 1.3 prints `srun eauto use: x`, which Coq 8.16 does not parse; `srun (eauto) use:
# x` is the same tactic, parenthesised.
_SRUN_RE = re.compile(r"^srun (\w+) (use:|unfold:|inv:|ctrs:)")


def _reconstruction(messages: Sequence[str], tac: TacticSentence) -> TacticSentence:
    """What CoqHammer says to replace `hammer` with (a reconstruction tactic that runs without
    the external provers), in place of `tac` when `tac` is exactly `hammer.`; else `tac`.
    The state was reached by `tac` itself; the replacement is what the proof records, and the
    whole proof is re-checked by `verify` like any other."""
    if tac.text.strip() != "hammer.":
        return tac
    for message in reversed(messages):
        m = _RECONSTRUCTION_RE.search(message)
        if m is None:
            continue
        text = _SRUN_RE.sub(r"srun (\1) \2", m.group(1).strip())
        checked = check_tactic(text if text.endswith(".") else text + ".")
        if isinstance(checked, TacticSentence):
            return checked
    return tac


class _ReplayFailed(Exception):
    """A tactic that succeeded before failed when its path was replayed."""


def make_coq_env(**kwargs: object) -> CoqEnv:
    return CoqEnv(config_from_options(CoqConfig, kwargs, "Coq"))
