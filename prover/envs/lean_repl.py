"""The Lean backend over the Lean REPL (leanprover-community/repl, `lake exe repl`).

Protocol (JSON objects separated by blank lines, on stdin/stdout):
- command mode `{"cmd": text}` (fresh environment; only then may `import` appear) or
  `{"cmd": text, "env": n}` -> `{"env": m, "messages": [...], "sorries": [{"proofState": k,
  "goal": ...}]}`; the file's imports run once per process and their environment is reused
  for every theorem of every file with the same header;
- tactic mode `{"tactic": text, "proofState": k}` -> `{"proofState": k2, "goals": [...],
  "proofStatus": "Completed" | "Incomplete: open goals remain" | ..., "messages": [...]}`, or
  `{"message": "Lean error: ..."}`.

Proof states are persistent in the REPL, so a handle maps straight to a `proofState` number;
after a timeout (the REPL cannot be interrupted: it is killed) or a crash, the process is
restarted and the states a caller still holds are rebuilt from their tactic paths.

A step counts as finishing the proof only with `proofStatus: "Completed"`, no goals, no error
and no sorry. That is a claim of the session only: `verify` and `check_file` decide, by the
rule in lean_audit.py: the file is re-elaborated in a fresh environment, in a REPL process of
its own (never the stepping one), and must succeed without sorry; its environment is pickled
(`{"pickleTo"}`), that process group is killed, and the pickle is loaded, re-checked by the
kernel, into a fresh audit process (`{"unpickleEnvFrom"}`), where our own `#print axioms`
command per declaration gives the axioms. Each pickle gets a random name in a folder of its own
(mode 0700, under `LeanConfig.scratch_dir` or the system's temporary folder), made only once
the elaboration has finished, and removed after its audit.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.envs.base import (
    BackendUnavailable,
    EnvError,
    Failed,
    Progress,
    ProofEnv,
    ProofState,
    Proved,
    StepResult,
    TheoremInfo,
    TheoremNotFound,
    TimedOut,
    VerifyResult,
    config_from_options,
    fresh_handle,
)
from prover.envs.lean_audit import (
    Audited,
    Problem,
    allowed_axioms,
    elaboration_problems,
    judge,
    read_axioms_answer,
    rejection,
)
from prover.envs.lean_names import Name, root_ref
from prover.envs.lean_source import (
    LeanDecl,
    LeanFile,
    format_lean_proof,
    parse_lean,
    proof_command,
    sorry_command,
)
from prover.envs.process import T, kill_group, memory_cap, with_restart

REPO_ROOT = Path(__file__).resolve().parents[2]
_FORBIDDEN = re.compile(r"(?<![\w.])(sorry|admit)(?![\w'])")
_NATIVE = re.compile(r"(?<![\w.])native_decide(?![\w'])")
_COMMAND_LINE = re.compile(
    r"^\s*(theorem|lemma|def|axiom|example|instance|import|open|namespace|section|end|"
    r"set_option|attribute|universe|variable|macro|syntax|elab|#\w+|@\[)\b",
    re.M,
)


@dataclass(frozen=True)
class LeanConfig:
    tactic_timeout: float = 10.0
    command_timeout: float = 900.0  # importing Mathlib can take minutes on a cold cache
    project_dir: str = str(REPO_ROOT)
    repl_cmd: tuple[str, ...] = ("lake", "exe", "repl")
    allow_native_decide: bool = False
    allowed_axioms: tuple[str, ...] = ()  # on top of lean_audit.STANDARD_AXIOMS
    max_memory_mb: int = 16384
    scratch_dir: str = ""  # where pickle folders are made; "": the system's temporary folder

    def __post_init__(self) -> None:
        allowed_axioms(self.allowed_axioms, allow_native_decide=self.allow_native_decide)


class ReplDied(Exception):
    pass


class ReplTimeout(Exception):
    pass


class ReplProcess:
    """One REPL process; requests and responses are JSON objects ending in a blank line."""

    def __init__(self, config: LeanConfig) -> None:
        if config.repl_cmd[0] == "lake" and shutil.which("lake") is None:
            raise BackendUnavailable(
                "`lake` not found: install elan and run `lake build` at the repo root "
                "(README, Lean setup)"
            )
        self.proc = subprocess.Popen(
            list(config.repl_cmd),
            cwd=config.project_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=memory_cap(config.max_memory_mb),
            start_new_session=True,
        )
        self._buf = b""

    def send(self, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise ReplDied(f"the REPL exited with code {self.proc.returncode}")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(request, ensure_ascii=False) + "\n\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            raise ReplDied(f"the REPL's input closed: {e}") from e
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + deadline_s
        while True:
            text = self._buf.decode("utf-8", errors="replace")
            end = text.find("\n\n")
            if end >= 0 and text[:end].strip():
                self._buf = text[end + 2 :].encode()
                return json.loads(text[:end])
            if end >= 0:  # leading blank lines
                self._buf = text[end + 2 :].encode()
                continue
            wait = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, wait))
            if not ready:
                self.kill()
                raise ReplTimeout(f"no answer within {deadline_s:.1f}s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if self._buf.strip():  # last answer without its trailing blank line
                    text, self._buf = self._buf.decode(), b""
                    return json.loads(text)
                self.kill()
                raise ReplDied("the REPL closed its output")
            self._buf += chunk

    def kill(self) -> None:
        kill_group(self.proc)

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.kill()


@dataclass(frozen=True)
class _Root:
    path: Path
    theorem: str


@dataclass(frozen=True)
class _Handle:
    root: _Root
    path: tuple[str, ...]


def _errors(resp: dict[str, Any]) -> list[str]:
    return [m.get("data", "") for m in resp.get("messages", []) if m.get("severity") == "error"]


def _uses_sorry(resp: dict[str, Any]) -> bool:
    return bool(resp.get("sorries")) or any(
        "declaration uses 'sorry'" in m.get("data", "") for m in resp.get("messages", [])
    )


class LeanReplEnv(ProofEnv):
    """`ProofEnv` over the Lean REPL (see module docstring)."""

    name = "lean"

    def __init__(self, config: LeanConfig | None = None) -> None:
        self.config = config or LeanConfig()
        self._proc: ReplProcess | None = None
        self._header_envs: dict[str, int] = {}
        self._root_states: dict[_Root, int] = {}
        self._handles: dict[int, _Handle] = {}
        self._ids: dict[int, int] = {}  # handle -> proofState in the current process
        self._closed = False
        self.restarts = 0

    # --- files -----------------------------------------------------------------------------

    def _file(self, file: str | Path) -> LeanFile:
        p = Path(file)
        if not p.is_file():
            raise EnvError(f"{p}: no such file (give the path of a Lean .lean file)")
        if p.suffix != ".lean":
            raise EnvError(f"{p}: not a Lean source file (expected a .lean file)")
        return parse_lean(p.read_text(encoding="utf-8"))

    def theorems(self, file: str | Path) -> list[TheoremInfo]:
        lf = self._file(file)
        return [
            TheoremInfo(d.display, d.line, "sorry" not in lf.text[d.start : d.end])
            for d in lf.theorems
        ]

    # --- stepping --------------------------------------------------------------------------

    def open(self, *, file: str | Path, theorem: str, imports: Sequence[str] = ()) -> ProofState:
        if imports:
            raise EnvError("the Lean backend takes no extra imports: put them in the file header")
        root = _Root(Path(file).resolve(), theorem)
        ps, goal = self._with_restart(lambda: self._open_root(root))
        handle = fresh_handle()
        self._handles[handle] = _Handle(root, ())
        self._ids[handle] = ps
        return ProofState(goal, handle, 1)

    def _open_root(self, root: _Root) -> tuple[int, str]:
        lf = self._file(root.path)
        decl = self._theorem(lf, root.theorem, root.path)
        env = self._header_env(lf.header)
        try:
            cmd = sorry_command(lf, decl)
        except ValueError as e:
            raise EnvError(f"{root.path}: {e}") from e
        resp = self._send({"cmd": cmd, "env": env}, self.config.command_timeout)
        errors = _errors(resp)
        if errors or not resp.get("sorries"):
            why = "; ".join(errors) or "no proof state (is the statement well-formed?)"
            raise EnvError(f"{root.path}: Lean rejected {root.theorem}: {why}")
        sorry = resp["sorries"][-1]
        self._root_states[root] = sorry["proofState"]
        return sorry["proofState"], sorry["goal"]

    def _header_env(self, header: str) -> int:
        if header not in self._header_envs:
            resp = self._send({"cmd": header or "-- no imports"}, self.config.command_timeout)
            errors = _errors(resp)
            if errors:
                raise EnvError(f"Lean rejected the file header: {'; '.join(errors)}")
            self._header_envs[header] = resp["env"]
        return self._header_envs[header]

    def step(self, state: ProofState, tactic: str, timeout_s: float | None = None) -> StepResult:
        refusal = self._refusal(tactic)
        if refusal:
            return Failed(refusal)
        if self._closed:
            raise EnvError("this Lean env is closed: start a new one with get_env('lean')")
        handle = self._handles.get(state.handle)
        if handle is None:
            raise EnvError(
                f"unknown state handle {state.handle}: states come from this env's open/step "
                "(not from another env)"
            )
        try:
            ps = self._with_restart(lambda: self._materialize(state.handle))
        except _ReplayFailed as e:
            return Failed(f"could not rebuild this state: {e}")
        limit = timeout_s or self.config.tactic_timeout
        try:
            resp = self._send({"tactic": tactic, "proofState": ps}, limit)
        except ReplTimeout:
            self._forget_process()
            return TimedOut(limit)
        except ReplDied as e:
            self._forget_process()
            return Failed(f"the Lean REPL crashed running this tactic (restarted): {e}")
        return self._outcome(handle, tactic, resp)

    def _outcome(self, handle: _Handle, tactic: str, resp: dict[str, Any]) -> StepResult:
        if "proofState" not in resp:
            return Failed(resp.get("message", json.dumps(resp)))
        errors = _errors(resp)
        if errors:
            return Failed("\n".join(errors))
        if _uses_sorry(resp):
            return Failed("refused: the tactic introduced a sorry")
        goals = resp.get("goals", [])
        new = _Handle(handle.root, handle.path + (tactic,))
        status = resp.get("proofStatus")
        if not goals:
            if status == "Completed":
                return Proved(new.path)
            if status is None:
                return Failed(
                    "the REPL reports no proofStatus: use the REPL pinned in lakefile.lean"
                )
            return Failed(f"no goals left, but the REPL says: {status}")
        key = fresh_handle()
        self._handles[key] = new
        self._ids[key] = resp["proofState"]
        return Progress(ProofState("\n\n".join(goals), key, len(goals)))

    def _refusal(self, tactic: str) -> str:
        if not tactic.strip():
            return "refused: empty tactic"
        if _FORBIDDEN.search(tactic):
            return "refused: sorry and admit are not allowed"
        if not self.config.allow_native_decide and _NATIVE.search(tactic):
            return "refused: native_decide is off (LeanConfig.allow_native_decide)"
        if _COMMAND_LINE.search(tactic):
            return "refused: a tactic may not contain commands"
        return ""

    def _materialize(self, key: int) -> int:
        if key in self._ids:
            return self._ids[key]
        handle = self._handles[key]
        ps = self._root_states.get(handle.root)
        if ps is None:
            ps, _ = self._open_root(handle.root)
        for tac in handle.path:
            resp = self._send({"tactic": tac, "proofState": ps}, self.config.tactic_timeout * 4)
            if "proofState" not in resp or _errors(resp):
                raise _ReplayFailed(f"{tac!r} failed on replay")
            ps = resp["proofState"]
        self._ids[key] = ps
        return ps

    # --- verification (the rule and its reasons: lean_audit.py) ------------------------------

    def verify(
        self,
        *,
        file: str | Path,
        theorem: str,
        proof: Sequence[str],
        imports: Sequence[str] = (),
        allowed_axioms: Sequence[str] = (),
    ) -> VerifyResult:
        t0 = time.perf_counter()
        allowed = self._allowed(allowed_axioms)
        for tac in proof:
            refusal = self._refusal(tac)
            if refusal:
                return VerifyResult(False, f"tactic {tac!r}: {refusal}")
        lf = self._file(file)
        decl = self._theorem(lf, theorem, file)
        if decl.doubt:
            return VerifyResult(False, decl.doubt, time_s=time.perf_counter() - t0)
        try:
            text = proof_command(lf, decl, list(proof))
        except ValueError as e:
            raise EnvError(f"{file}: {e}") from e
        problems, pickle = self._check(text)
        if pickle is None:
            last_line = decl.line + text[decl.start :].rstrip().count("\n")
            reason = rejection(problems, decl.line, last_line)
            return VerifyResult(False, reason, time_s=time.perf_counter() - t0)
        audited = self._audit(pickle, [decl])[decl.full_name]
        return judge(audited, allowed, time.perf_counter() - t0)

    def check_file(
        self, file: str | Path, *, allowed_axioms: Sequence[str] = ()
    ) -> dict[str, VerifyResult]:
        """Every theorem of `file` with its own proof, keyed by full (kernel) name; also the
        named definitions (def, abbrev, instance, opaque) that are rejected."""
        t0 = time.perf_counter()
        allowed = self._allowed(allowed_axioms)
        lf = self._file(file)
        decls = lf.audited
        clean = [d for d in decls if not d.doubt]  # names the parse is sure of
        if not clean:  # nothing to ask Lean about: every one is rejected for its doubt
            return {d.display: VerifyResult(False, d.doubt) for d in decls}
        problems, pickle = self._check(lf.text)
        audited = self._audit(pickle, clean) if pickle is not None else {}
        elapsed = time.perf_counter() - t0
        results: dict[str, VerifyResult] = {}
        for d in decls:
            if d.doubt:  # never audited; duplicates share one key, rejected alike
                results[d.display] = VerifyResult(False, d.doubt, time_s=elapsed)
            elif problems:
                if d.is_theorem or any(d.line <= p.line <= d.last_line for p in problems):
                    why = rejection(problems, d.line, d.last_line)
                    results[d.display] = _as_decl(d, VerifyResult(False, why, time_s=elapsed))
            else:
                verdict = judge(audited[d.full_name], allowed, elapsed)
                if d.is_theorem or not verdict.ok:  # definitions: reported when rejected
                    results[d.display] = _as_decl(d, verdict)
        return results

    def _allowed(self, extra: Sequence[str]) -> frozenset[Name]:
        """The standard axioms, the configured ones and `extra`."""
        return allowed_axioms(
            (*self.config.allowed_axioms, *extra),
            allow_native_decide=self.config.allow_native_decide,
        )

    def format_proof(self, tactics: Sequence[str]) -> str:
        return format_lean_proof(tactics)

    @staticmethod
    def _theorem(lf: LeanFile, theorem: str, file: str | Path) -> LeanDecl:
        decl = lf.find(theorem)
        if decl is None:
            names = ", ".join(d.display for d in lf.theorems) or "none"
            raise TheoremNotFound(
                f"no single theorem named {theorem!r} in {file} (its theorems: {names})"
            )
        return decl

    def _check(self, text: str) -> tuple[list[Problem], Path | None]:
        """Elaborate `text` in a fresh environment, in a REPL process of its own; if it
        succeeds, pickle that environment and return the pickle's path, else the problems
        (and None). Its whole process group is killed before this returns: nothing the file
        started in it still runs when the audit reads the pickle (lean_audit.py)."""
        checker = ReplProcess(self.config)
        pickle: Path | None = None
        is_saved = False
        try:
            resp = checker.send({"cmd": text}, self.config.command_timeout)
            problems = elaboration_problems(resp)
            if problems:
                return problems, None
            pickle = _new_pickle_path(self.config.scratch_dir)  # only now: the file has run
            request = {"pickleTo": str(pickle), "env": resp["env"]}
            saved = checker.send(request, self.config.command_timeout)
            if saved.get("env") != resp["env"]:
                why = saved.get("message", json.dumps(saved, ensure_ascii=False))
                unsaved = f"the REPL could not save the checked environment: {why}"
                return [Problem(0, unsaved, False)], None
            is_saved = True
            return [], pickle
        except ReplTimeout:
            limit = self.config.command_timeout
            return [Problem(0, f"Lean ran past the command timeout ({limit:.0f} s)", False)], None
        except ReplDied as e:
            return [Problem(0, f"the REPL died checking the file: {e}", False)], None
        finally:
            checker.close()  # SIGKILL to its whole process group (process.kill_group)
            if pickle is not None and not is_saved:
                _remove_pickle(pickle)

    def _audit(self, pickle: Path, decls: Sequence[LeanDecl]) -> dict[Name, Audited]:
        """`#print axioms` for each of `decls` in a fresh process that loads `pickle`; no code
        of the checked file runs there (see lean_audit.py). The pickle is removed after."""
        answers: dict[Name, Audited] = {}
        auditor: ReplProcess | None = None
        try:
            auditor = ReplProcess(self.config)
            loaded = auditor.send({"unpickleEnvFrom": str(pickle)}, self.config.command_timeout)
            env = loaded.get("env")
            if not isinstance(env, int) or "message" in loaded:
                failed = Audited(problem=f"the audit could not load the checked file: {loaded}")
                return {d.full_name: failed for d in decls}
            for d in decls:
                answers[d.full_name] = self._print_axioms(auditor, env, d)
        except (ReplDied, ReplTimeout) as e:
            failed = Audited(problem=f"the audit process failed: {e}")
            return {d.full_name: answers.get(d.full_name, failed) for d in decls}
        finally:
            if auditor is not None:
                auditor.close()
            _remove_pickle(pickle)
        return answers

    def _print_axioms(self, auditor: ReplProcess, env: int, decl: LeanDecl) -> Audited:
        try:
            ref = root_ref(decl.full_name)
        except ValueError as e:
            return Audited(problem=str(e))
        request = {"cmd": f"#print axioms {ref}", "env": env}
        resp = auditor.send(request, self.config.command_timeout)
        return read_axioms_answer(resp, decl.full_name, is_private=decl.is_private)

    # --- process ---------------------------------------------------------------------------

    def _send(self, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        if self._proc is None:
            self._proc = ReplProcess(self.config)
        return self._proc.send(request, deadline_s)

    def _forget_process(self) -> None:
        if self._proc is not None:
            self._proc.close()
            self._proc = None
            self.restarts += 1
        self._header_envs.clear()
        self._root_states.clear()
        self._ids.clear()

    def _with_restart(self, fn: Callable[[], T]) -> T:
        return with_restart(
            fn, died=(ReplDied, ReplTimeout), restart=self._forget_process, what="the Lean REPL"
        )

    def close(self) -> None:
        self._closed = True
        if self._proc is not None:
            self._proc.close()
            self._proc = None


class _ReplayFailed(Exception):
    pass


def _as_decl(decl: LeanDecl, verdict: VerifyResult) -> VerifyResult:
    """A definition's verdict says what kind of declaration it is ("(def) uses axiom ...")."""
    if decl.is_theorem or verdict.ok:
        return verdict
    return replace(verdict, reason=f"({decl.keyword}) {verdict.reason}")


def _new_pickle_path(scratch_dir: str) -> Path:
    """A random file name in a new folder (mode 0700, random name): nothing could know or
    prepare the path while the checked file was elaborated. The REPL's `pickleTo` writes into
    an existing folder only, so the folder is made here, just before that request."""
    if scratch_dir:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="springtail-check-", dir=scratch_dir or None))
    return folder / f"{secrets.token_hex(16)}.olean"


def _remove_pickle(pickle: Path) -> None:
    shutil.rmtree(pickle.parent, ignore_errors=True)


def make_lean_env(**kwargs: object) -> LeanReplEnv:
    return LeanReplEnv(config_from_options(LeanConfig, kwargs, "Lean"))
