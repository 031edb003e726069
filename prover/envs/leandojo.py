"""The LeanDojo backend: `lean_dojo.Dojo` behind the `ProofEnv` protocol.

The only module that imports `lean_dojo`. A theorem is named by the file path inside the
traced repository and its full name; `LeanDojoConfig` names the repository (URL and commit).
LeanDojo's results map onto the protocol as:

    TacticState -> Progress    ProofFinished -> Proved    LeanError -> Failed
    ProofGivenUp -> Failed (refused: sorry)    DojoTacticTimeoutError -> TimedOut
    DojoCrashError -> the Dojo is re-entered and the state rebuilt from its tactic path

`verify` recompiles the traced file with the proof in place (`lake env lean`) and reads
`#print axioms` exactly like the REPL backend: only propext, Classical.choice and Quot.sound.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.envs.base import (
    EnvError,
    Failed,
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
from prover.envs.lean_repl import (
    _AXIOMS_RE,
    _NO_AXIOMS_RE,
    NATIVE_DECIDE_AXIOMS,
    STANDARD_AXIOMS,
    LeanConfig,
    LeanReplEnv,
)
from prover.envs.lean_source import parse_lean, proof_command


@dataclass(frozen=True)
class LeanDojoConfig:
    repo_url: str = "https://github.com/yangky11/miniF2F-lean4"
    commit: str = "main"
    tactic_timeout: float = 60.0
    verify_timeout: float = 900.0
    allow_native_decide: bool = False


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

    def __init__(self, config: LeanDojoConfig | None = None, dojo_factory: Any = None) -> None:
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
        self._refuser = LeanReplEnv(
            LeanConfig(allow_native_decide=self.config.allow_native_decide)
        )._refusal
        self.restarts = 0

    def _real_dojo(self, file_path: str, full_name: str, timeout: int) -> Any:
        thm = self._ld.Theorem(self._git_repo(), file_path, full_name)
        return self._ld.Dojo(thm, timeout=timeout)

    def _git_repo(self) -> Any:
        if self._repo is None:
            self._repo = self._ld.LeanGitRepo(self.config.repo_url, self.config.commit)
        return self._repo

    def theorems(self, file: str | Path) -> list[TheoremInfo]:
        text = Path(file).read_text(encoding="utf-8")
        lf = parse_lean(text)
        return [
            TheoremInfo(d.name, d.line, True) for d in lf.decls if d.keyword in ("theorem", "lemma")
        ]

    def open(self, *, file: str | Path, theorem: str, imports: Sequence[str] = ()) -> ProofState:
        if imports:
            raise EnvError("the LeanDojo backend takes no extra imports")
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

    def step(self, state: ProofState, tactic: str) -> StepResult:
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
    ) -> VerifyResult:
        t0 = time.perf_counter()
        for tac in proof:
            refusal = self._refuser(tac)
            if refusal:
                return VerifyResult(False, f"tactic {tac!r}: {refusal}")
        repo_dir = Path(self._ld.get_traced_repo_path(self._git_repo()))
        text = (repo_dir / file).read_text(encoding="utf-8")
        lf = parse_lean(text)
        decl = lf.find(theorem)
        if decl is None:
            raise EnvError(f"no theorem named {theorem!r} in {file}")
        with tempfile.NamedTemporaryFile("w", suffix=".lean", dir=repo_dir, delete=True) as tmp:
            tmp.write(proof_command(lf, decl, list(proof)))
            tmp.flush()
            try:
                p = subprocess.run(
                    ["lake", "env", "lean", tmp.name],
                    cwd=repo_dir,
                    capture_output=True,
                    text=True,
                    timeout=self.config.verify_timeout,
                )
            except subprocess.TimeoutExpired:
                return VerifyResult(
                    False, "lean ran past the verify timeout", time_s=time.perf_counter() - t0
                )
        return audit_lean_output(
            p.returncode, p.stdout + p.stderr, decl.name, self.config, time.perf_counter() - t0
        )

    def check_file(
        self, file: str | Path, *, allowed_axioms: Sequence[str] = ()
    ) -> dict[str, VerifyResult]:
        raise EnvError("use `springtail check FILE --backend lean` to re-check a whole file")

    def close(self) -> None:
        for key in list(self._sessions):
            self._restart(key)


def audit_lean_output(
    rc: int, output: str, name: str, config: LeanDojoConfig, elapsed: float
) -> VerifyResult:
    """Judge `lean FILE` output that ends with `#print axioms name`."""
    if rc != 0 or re.search(r":\d+:\d+: error", output):
        return VerifyResult(
            False, f"Lean rejected the proof: {output.strip()[-600:]}", time_s=elapsed
        )
    if "declaration uses 'sorry'" in output:
        return VerifyResult(False, "the proof uses sorry", time_s=elapsed)
    hit = _AXIOMS_RE.search(output)
    if hit:
        axioms = tuple(a.strip() for a in hit["axioms"].split(",") if a.strip())
    elif _NO_AXIOMS_RE.search(output):
        axioms = ()
    else:
        return VerifyResult(False, f"no `#print axioms` output for {name}", time_s=elapsed)
    allowed = set(STANDARD_AXIOMS) | (
        set(NATIVE_DECIDE_AXIOMS) if config.allow_native_decide else set()
    )
    bad = [a for a in axioms if a not in allowed]
    if bad:
        return VerifyResult(False, f"uses axiom(s) {', '.join(bad)}", axioms, elapsed)
    return VerifyResult(True, "", axioms, elapsed)


def make_leandojo_env(**kwargs: object) -> LeanDojoEnv:
    return LeanDojoEnv(config_from_options(LeanDojoConfig, kwargs, "LeanDojo"))
