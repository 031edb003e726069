"""The LeanDojo backend: `lean_dojo.Dojo` behind the `ProofEnv` protocol.

The only module that imports `lean_dojo`. A theorem is named by the file path inside the
traced repository and its full name; `LeanDojoConfig` names the repository (URL and commit).
LeanDojo's results map onto the protocol as:

    TacticState -> Progress    ProofFinished -> Proved    LeanError -> Failed
    ProofGivenUp -> Failed (refused: sorry)    DojoTacticTimeoutError -> TimedOut
    DojoCrashError -> the Dojo is re-entered and the state rebuilt from its tactic path

`verify` is the Lean REPL backend's `verify` (`LeanReplEnv`, run in this project's Lake
workspace) on the traced file: the same rule decides (lean_audit.py): the file with the proof
re-elaborated in a fresh environment in a REPL process of its own, killed before the axiom
audit runs in another fresh process that replays the result through the kernel. It never reads
`lean`'s printed output, which the file's own code can shape. The file's imports must therefore
resolve in this project (Mathlib at the pinned tag); when they do not, the check fails and the
proof is rejected with Lean's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.envs.base import (
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
)
from prover.envs.lean_repl import LeanConfig, LeanReplEnv
from prover.envs.lean_source import format_lean_proof, parse_lean


@dataclass(frozen=True)
class LeanDojoConfig:
    repo_url: str = "https://github.com/yangky11/miniF2F-lean4"
    commit: str = "main"
    tactic_timeout: float = 60.0
    verify_timeout: float = 900.0
    allow_native_decide: bool = False
    allowed_axioms: tuple[str, ...] = ()  # accepted by `verify`, on top of Lean's standard three
    source_dir: str = ""  # a local checkout of the repository; "": LeanDojo's traced copy


@dataclass
class _Session:
    dojo: Any
    root: Any  # the initial TacticState
    context: Any  # the Dojo context manager, exited on restart/close


@dataclass(frozen=True)
class _Handle:
    key: tuple[str, str]  # (file path, full name)
    path: tuple[str, ...]


def to_step_result(result: object, path: tuple[str, ...]) -> StepResult | Any:
    """Map a LeanDojo `TacticResult` to the protocol; a `TacticState` is returned as is
    (the caller registers it as a new state)."""
    import lean_dojo

    if isinstance(result, lean_dojo.ProofFinished):
        return Proved(path)
    if isinstance(result, lean_dojo.LeanError):
        return Failed(result.error)
    if isinstance(result, lean_dojo.ProofGivenUp):
        return Failed("refused: the proof gave up (sorry)")
    if isinstance(result, lean_dojo.TacticState):
        return result
    raise TypeError(f"unexpected LeanDojo result {result!r}")


class LeanDojoEnv(ProofEnv):
    name = "leandojo"

    def __init__(
        self,
        config: LeanDojoConfig | None = None,
        dojo_factory: Any = None,
        verifier: LeanReplEnv | None = None,
    ) -> None:
        import lean_dojo

        self.config = config or LeanDojoConfig()
        self._ld = lean_dojo
        self._repo: Any = None  # resolved on first use: LeanGitRepo asks the git host
        # `dojo_factory(file_path, full_name, timeout)` -> a Dojo context manager; tests pass
        # a stand-in that answers with LeanDojo's real result classes.
        self._dojo_factory = dojo_factory or self._real_dojo
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._handles: dict[int, _Handle] = {}
        self._states: dict[int, Any] = {}  # handle -> TacticState in the live session
        # `verify` delegates to the REPL backend (tests pass one that talks to a stand-in REPL)
        self._verifier = verifier or LeanReplEnv(
            LeanConfig(
                allowed_axioms=self.config.allowed_axioms,
                allow_native_decide=self.config.allow_native_decide,
                command_timeout=self.config.verify_timeout,
            )
        )
        self._refuser = self._verifier._refusal
        self.restarts = 0

    def _real_dojo(self, file_path: str, full_name: str, timeout: int) -> Any:
        thm = self._ld.Theorem(self._git_repo(), file_path, full_name)
        return self._ld.Dojo(thm, timeout=timeout)

    def _git_repo(self) -> Any:
        if self._repo is None:
            self._repo = self._ld.LeanGitRepo(self.config.repo_url, self.config.commit)
        return self._repo

    def theorems(self, file: str | Path) -> list[TheoremInfo]:
        lf = parse_lean(Path(file).read_text(encoding="utf-8"))
        return [TheoremInfo(d.display, d.line, True) for d in lf.theorems]

    def open(self, *, file: str | Path, theorem: str, imports: Sequence[str] = ()) -> ProofState:
        if imports:
            raise ImportRejected("the LeanDojo backend takes no extra imports")
        key = (str(file), theorem)
        session = self._enter(key)
        handle = len(self._handles)
        self._handles[handle] = _Handle(key, ())
        self._states[handle] = session.root
        return ProofState(session.root.pp, handle, session.root.num_goals)

    def _enter(self, key: tuple[str, str]) -> _Session:
        if key in self._sessions:
            return self._sessions[key]
        ctx = self._dojo_factory(key[0], key[1], int(self.config.tactic_timeout))
        try:
            dojo, root = ctx.__enter__()
        except self._ld.DojoInitError as e:
            raise EnvError(f"LeanDojo could not open {key[1]} in {key[0]}: {e}") from e
        self._sessions[key] = _Session(dojo, root, ctx)
        return self._sessions[key]

    def step(self, state: ProofState, tactic: str, timeout_s: float | None = None) -> StepResult:
        if timeout_s is not None and timeout_s != self.config.tactic_timeout:
            raise EnvError(
                "LeanDojo fixes the tactic timeout when it opens a theorem: a per-call "
                "timeout_s is not supported (set tactic_timeout on the env)"
            )
        refusal = self._refuser(tactic)
        if refusal:
            return Failed(refusal)
        handle = self._handles.get(state.handle)
        if handle is None:
            raise EnvError(f"unknown state handle {state.handle}: states come from open/step")
        session = self._enter(handle.key)
        tactic_state = self._states.get(state.handle) or self._rebuild(state.handle)
        try:
            result = session.dojo.run_tac(tactic_state, tactic)
        except self._ld.DojoTacticTimeoutError:
            self._restart(handle.key)
            return TimedOut(self.config.tactic_timeout)
        except self._ld.DojoCrashError as e:
            self._restart(handle.key)
            return Failed(f"LeanDojo crashed running this tactic (restarted): {e}")
        out = to_step_result(result, handle.path + (tactic,))
        if isinstance(out, self._ld.TacticState):
            key = len(self._handles)
            self._handles[key] = _Handle(handle.key, handle.path + (tactic,))
            self._states[key] = out
            return Progress(ProofState(out.pp, key, out.num_goals))
        return out

    def _restart(self, key: tuple[str, str]) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            try:
                session.context.__exit__(None, None, None)
            except Exception:  # a crashed Dojo may fail to clean up; it is gone either way
                pass
        self._states = {h: s for h, s in self._states.items() if self._handles[h].key != key}
        self.restarts += 1

    def _rebuild(self, handle_id: int) -> Any:
        handle = self._handles[handle_id]
        session = self._enter(handle.key)
        state = session.root
        for tac in handle.path:
            state = session.dojo.run_tac(state, tac)
            if not isinstance(state, self._ld.TacticState):
                raise EnvError(f"could not rebuild a LeanDojo state: {tac!r} gave {state!r}")
        self._states[handle_id] = state
        return state

    def verify(
        self,
        *,
        file: str | Path,
        theorem: str,
        proof: Sequence[str],
        imports: Sequence[str] = (),
        allowed_axioms: Sequence[str] = (),
    ) -> VerifyResult:
        """The REPL backend's verify on the repository's copy of `file` (module docstring)."""
        if imports:
            raise ImportRejected("the LeanDojo backend takes no extra imports")
        return self._verifier.verify(
            file=self._source(file), theorem=theorem, proof=proof, allowed_axioms=allowed_axioms
        )

    def _source(self, file: str | Path) -> Path:
        root = self.config.source_dir or self._ld.get_traced_repo_path(self._git_repo())
        return Path(root) / file

    def format_proof(self, tactics: Sequence[str]) -> str:
        return format_lean_proof(tactics)

    def check_file(
        self, file: str | Path, *, allowed_axioms: Sequence[str] = ()
    ) -> dict[str, VerifyResult]:
        raise EnvError("use `springtail check FILE --backend lean` to re-check a whole file")

    def close(self) -> None:
        for key in list(self._sessions):
            self._restart(key)
        self._verifier.close()


def make_leandojo_env(**kwargs: object) -> LeanDojoEnv:
    return LeanDojoEnv(config_from_options(LeanDojoConfig, kwargs, "LeanDojo"))
