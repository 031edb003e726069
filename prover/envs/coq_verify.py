"""Whole-file re-checks: `coqc` compiles, a separate Coq process audits, `coqchk` confirms.

Before anything runs, the sources are vetted (`coq_vetting`), and the project libraries the
file Requires are compiled by Springtail from those sources into a private folder: no
compiled file Springtail did not make is ever loaded.

Two entry points:
- `check_file`: the user's file as it stands. `coqc` compiles it in place (its own logical
  name and load path; outputs, caches and anything the code writes with a relative path go
  to a private temporary folder), and must exit 0, else every theorem is rejected with
  coqc's message.
- `verify_proof`: one theorem with a candidate proof. The check file is the source up to
  the theorem (verbatim; enclosing modules lose their signature constraint, which a truncated
  body could not meet), the policy's imports (the statement is then also stated before them
  and unified with the proved one: an import must not change what it means), the original
  statement renamed to a fresh name, `Proof.`, the tactics, `Qed.`, then `End` for every open
  section and module; it is compiled as the library `SpringtailCheck`.

Then the audit (`coq_audit`): a fresh Coq process whose whole input we write `Require`s the
compiled library, confirms Coq loaded the files we compiled, and asks `Print Assumptions` by
kernel name, batched (`_Audit.judge_all`). Every constant coqchk lists in the library is
audited; reported are the theorems (coqc's glob kinds, `Goal`s, obligations, proofs the
source states, admitted constants from `Search is:Conjecture`) and any other constant that
rests on something not allowed. Constants inside functors and module types are reached
through fresh modules (`Declare Module`, functor application). `coqchk` re-checks the library
and its project dependencies meanwhile; a theorem is accepted only when coqchk succeeds,
every axiom it uses is one coqchk also lists, and every assumption is allowed: a field of a
functor parameter or module type (not one admitted there), or a declared axiom named with
`--allow-axiom` (never an admitted constant, however it was made; never switched-off guard,
positivity or universe checking; impredicative Set only when allowed, and then said).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prover.envs.base import DependencyNotBuilt, EnvError, VerifyResult
from prover.envs.coq_audit import (
    IMPREDICATIVE_SET_LINE,
    Assumption,
    AuditError,
    AuditSession,
    CheckerReport,
    Kind,
    read_coqchk,
    run_coqchk,
)
from prover.envs.coq_project import (
    IMPREDICATIVE_SET,
    coq_subprocess_env,
    coqlib,
    loadpath_flags,
    logical_name,
    source_of,
)
from prover.envs.coq_source import (
    THEOREM_KEYWORDS,
    CoqTheorem,
    Scope,
    rename_statement,
    without_module_type,
)
from prover.envs.process import kill_group, memory_cap

if TYPE_CHECKING:
    from prover.envs.coq import CoqDocument

CHECK_LIBRARY = "SpringtailCheck"
_BATCH = 200  # targets per batched Print Assumptions (see `_Audit.judge_all`)
_UNNAMED_RE = re.compile(r"^Unnamed_thm\d*$")
_OBLIGATION_RE = re.compile(r"^.+_obligation_\d+$")


@dataclass(frozen=True)
class CheckOptions:
    allowed_axioms: tuple[str, ...] = ()  # Coq qualified identifiers, matched by kernel name
    allow_impredicative_set: bool = False
    timeout_s: float = 600.0  # for each of coqc, the audit and coqchk
    max_memory_mb: int = 8192


@dataclass(frozen=True)
class Library:
    """A library `coqc` compiled into a private folder."""

    name: str
    vo: Path
    loadpath: tuple[str, ...]  # -Q/-R flags that find it (ours last) and its dependencies
    cwd: Path
    glob: Path | None = None  # coqc's glob file (declaration kinds), under a random name


@dataclass(frozen=True)
class Target:
    """A constant to audit: its name in the user's terms and the path Coq knows it by."""

    name: str  # e.g. LF.Lists.NatList.app_assoc, or LF.Sets.Make.union_comm for a functor's
    path: str  # the kernel path to ask about (inside an instantiated module for functors)


# --- compiling -------------------------------------------------------------------------------


_LOG_TAIL_BYTES = 64 * 1024  # coqc's messages kept: its last error is all we report


def _run_coqc(
    args: Sequence[str], cwd: Path, timeout_s: float, max_memory_mb: int
) -> tuple[int | None, str]:
    """Run coqc in its own process group, killed afterwards (CoqHammer's provers detach).
    Its output goes to a file, of which only the tail is read: the checked code decides how
    much it prints, and in which encoding."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["coqc", "-q", *args],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=memory_cap(max_memory_mb),
            env=coq_subprocess_env(str(cwd)),
            start_new_session=True,
        )
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            kill_group(proc)
        size = log.seek(0, 2)
        log.seek(max(0, size - _LOG_TAIL_BYTES))
        return rc, log.read().decode("utf-8", errors="replace")


def _coqc_failure(
    log: str, source: Path, compiled: Path | None = None, line_of: dict[int, int] | None = None
) -> str:
    """coqc's last error and where it is: in `source`, the user's file (coqc compiled
    `compiled`, a check file whose lines `line_of` maps back to `source`, or `source` itself),
    or in another file Coq names (a Loaded file)."""
    idx = log.rfind("Error:")
    text = " ".join((log[idx:] if idx >= 0 else log[-400:]).split())[:600]
    places = re.findall(r'File "([^"]*)", line (\d+)', log)
    if not places:
        return text
    file, line = Path(places[-1][0]), int(places[-1][1])
    if _same_file(file, compiled or source):
        if line_of is None:
            return f"{text} ({source} line {line})"
        if line in line_of:
            return f"{text} (line {line_of[line]} of {source})"
        return f"{text} (in the proof being checked)"
    return f"{text} ({file} line {line})"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def missing_dependency(log: str, doc: CoqDocument) -> str | None:
    """A user-facing message when coqc failed because a dependency is not compiled."""
    m = re.search(
        r"Cannot find a physical path bound to logical path\s+(\S+?)"
        r"(?:\s+with prefix\s+(\S+?))?\.\s",
        log + " ",
    )
    if m:
        lib = f"{m[2]}.{m[1]}" if m[2] else m[1]
        source = source_of(lib, doc.ctx.mappings)
        if source is not None:
            return (
                f"{doc.ctx.path}: it needs {lib} ({source}), which is not compiled: build the "
                f"dependencies first (e.g. `make`, or `{_coqc_command(doc, source)}`)"
            )
    m = re.search(r"Compiled library (\S+) .*?makes inconsistent assumptions", log, re.S)
    if m:
        return (
            f"{doc.ctx.path}: the compiled {m[1]} is out of date with its dependencies: "
            "rebuild the project (e.g. `make`) and check again"
        )
    return None


def _coqc_command(doc: CoqDocument, source: Path) -> str:
    """How the user would compile `source`, from the project's folder."""

    def rel(p: str | Path) -> str:
        path = Path(p)
        return (
            str(path.relative_to(doc.ctx.cwd)) or "."
            if path.is_relative_to(doc.ctx.cwd)
            else str(path)
        )

    flags = list(loadpath_flags(doc.ctx.args))
    shown = [rel(a) if k % 3 == 1 else (a or '""') for k, a in enumerate(flags)]
    return " ".join(["coqc", *shown, rel(source)])


def compile_in_place(doc: CoqDocument, tmp: Path, opts: CheckOptions) -> Library | str:
    """Compile the user's file under its own logical name into `tmp` (after the project
    libraries it needs, see `compile_dependencies`); the library, or why coqc refused it."""
    ours = compile_dependencies(doc, tmp, opts)
    folder, prefix = doc.ctx.mapping
    vo = _our_root(doc, tmp, folder) / doc.ctx.path.relative_to(folder).with_suffix(".vo")
    vo.parent.mkdir(parents=True, exist_ok=True)
    glob = tmp / f"{secrets.token_hex(8)}.glob"
    args = [*doc.ctx.args, *ours, "-o", str(vo), "-dump-glob", str(glob), str(doc.ctx.path)]
    rc, log = _run_coqc(args, _work(tmp), opts.timeout_s, opts.max_memory_mb)
    if rc is None:
        return f"coqc ran past {opts.timeout_s:.0f} s"
    if rc != 0:
        missing = missing_dependency(log, doc)
        if missing:
            raise DependencyNotBuilt(missing)
        return f"coqc rejected the file: {_coqc_failure(log, doc.ctx.path)}"
    return Library(doc.ctx.logical_name, vo, (*_loadpath(doc.ctx.args), *ours), _work(tmp), glob)


def compile_dependencies(doc: CoqDocument, tmp: Path, opts: CheckOptions) -> tuple[str, ...]:
    """Compile the project libraries `doc` Requires from their (vetted) sources into `tmp`,
    so that no compiled file Springtail did not make is ever loaded (a `.vo` can declare an
    OCaml plugin). Each must also be built by the user (DependencyNotBuilt otherwise: the
    issue is theirs to fix first). Returns the `-Q` flags that make Coq take these copies
    (they come after the project's own)."""
    flags = tuple(
        a
        for folder, prefix in doc.ctx.mappings
        for a in ("-Q", str(_our_root(doc, tmp, folder)), prefix)
    )
    for source in doc.required:
        folder, _ = _mapping_of(doc, source)
        built = source.with_suffix(".vo")
        if not built.is_file() or built.stat().st_mtime < source.stat().st_mtime:
            raise DependencyNotBuilt(_build_first(doc, source))
        vo = _our_root(doc, tmp, folder) / source.relative_to(folder).with_suffix(".vo")
        vo.parent.mkdir(parents=True, exist_ok=True)
        args = [*doc.ctx.args, *flags, "-o", str(vo), str(source)]
        rc, log = _run_coqc(args, _work(tmp), opts.timeout_s, opts.max_memory_mb)
        if rc != 0:
            why = "ran too long" if rc is None else _coqc_failure(log, source)
            raise DependencyNotBuilt(
                f"{source}, which {doc.ctx.path} needs, does not compile: {why}"
            )
    return flags


def _our_root(doc: CoqDocument, tmp: Path, folder: Path) -> Path:
    """Where Springtail compiles the libraries of the load-path entry `folder`."""
    k = [f for f, _ in doc.ctx.mappings].index(folder)
    return tmp / "lib" / str(k)


def _work(tmp: Path) -> Path:
    """Coq's working folder: caches and files written by relative path land here."""
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    return work


def _mapping_of(doc: CoqDocument, source: Path) -> tuple[Path, str]:
    for folder, prefix in doc.ctx.mappings:
        if source.is_relative_to(folder):
            return folder, prefix
    raise DependencyNotBuilt(f"{source} is outside {doc.ctx.path}'s load path")


def _build_first(doc: CoqDocument, source: Path) -> str:
    lib = logical_name(source.resolve(), doc.ctx.mappings)
    return (
        f"{doc.ctx.path} needs {lib} ({source}), which is not compiled (or changed since): "
        f"build the dependencies first (e.g. `make`, or `{_coqc_command(doc, source)}`)"
    )


def _loadpath(args: Sequence[str]) -> tuple[str, ...]:
    """What a reader of a library compiled with `args` needs: the load path, and the
    options that change the logic."""
    logic = ("-noinit", IMPREDICATIVE_SET, "-indices-matter")
    return (*loadpath_flags(args), *(a for a in args if a in logic))


# --- auditing --------------------------------------------------------------------------------


@dataclass
class _Audit:
    """One library's audit: the session, the allowed axioms, and what coqchk said."""

    session: AuditSession
    library: Library
    opts: CheckOptions
    allowed: dict[str, str] = field(default_factory=dict)  # kernel path -> name as given
    refused: dict[str, str] = field(default_factory=dict)  # kernel path -> why not allowable
    checker: CheckerReport | None = None
    checker_proc: subprocess.Popen[bytes] | None = None
    installed: frozenset[str] = frozenset()  # loaded libraries that come with Coq
    display: dict[str, str] = field(default_factory=dict)  # our module path -> user's terms
    instances: dict[str, str] = field(default_factory=dict)  # user's module path -> ours

    def read_checker(self) -> None:
        """Wait for coqchk's verdict."""
        if self.checker_proc is not None and self.checker is None:
            self.checker = read_coqchk(self.checker_proc, self.opts.timeout_s)

    def resolve_allowed(self) -> None:
        """Map each `--allow-axiom` name to a kernel path: a dotted name must be the full
        kernel name; a bare name may name an axiom of the checked file itself. Admitted
        constants, and `Coq.*` names not from Coq's own installation, are refused."""
        own = self.library.name + "."
        for given in self.opts.allowed_axioms:
            if "." in given:
                wanted = self.ours(given)
                paths = [p for p in self.session.locate(wanted) if p == wanted]
            else:
                paths = [p for p in self.session.locate(given) if p.startswith(own)]
            if len(paths) > 1:
                raise EnvError(
                    f"--allow-axiom {given} is ambiguous in this file: "
                    f"{', '.join(map(self.show, paths))}; give the full name"
                )
            for path in paths:
                self._allow(path, given)

    def _allow(self, path: str, given: str) -> None:
        library = self.session.library_of(path)
        kind = self.session.declared_kind(path, library)
        if path.startswith("Coq.") and library not in self.installed:
            self.refused[path] = (
                f"{path} does not come from Coq's installed standard library (library "
                f"{library or '?'} was loaded from elsewhere)"
            )
        elif kind is Kind.AXIOM:
            self.allowed[path] = given
        elif kind is Kind.ADMITTED:
            self.refused[path] = (
                f"{self.show(path)} is an admitted lemma, never an allowed axiom "
                f"(although --allow-axiom {given} was given)"
            )
        else:
            self.refused[path] = (
                f"{self.show(path)} is not a declared axiom (--allow-axiom {given} allows only "
                "constants declared with Axiom/Parameter)"
            )

    def judge_all(self, targets: Sequence[Target], elapsed: float) -> dict[str, VerifyResult]:
        """`judge` for many targets. Coq is first asked about batches: a constant whose body
        mentions every target of a batch rests on exactly the union of their assumptions, so
        when it rests on nothing, neither does any of them (the common case, one query per
        batch); otherwise each target of the batch is asked about on its own."""
        results: dict[str, VerifyResult] = {}
        for k in range(0, len(targets), _BATCH):
            batch = targets[k : k + _BATCH]
            if self._closed(batch):
                ok = VerifyResult(True, "", (), elapsed, {"parameters": [], "notes": []})
                results.update(dict.fromkeys((t.name for t in batch), ok))
            else:
                results.update((t.name, self.judge(t, elapsed)) for t in batch)
        return results

    def _closed(self, batch: Sequence[Target]) -> bool:
        if self.checker is None or not self.checker.ok:
            return False
        name = self.session.fresh_name("batch")
        body = " ".join(f"let _ := @{t.path.removeprefix('Top.')} in" for t in batch)
        try:
            self.session.run(f"Definition {name} := {body} tt.")
            found = self.session.assumptions(name)
        except AuditError:
            return False
        return not found

    def judge(self, target: Target, elapsed: float) -> VerifyResult:
        try:
            found = self.session.assumptions(target.path)
        except AuditError as e:
            if "was not found in the current environment" in str(e):
                why = "not audited: Coq cannot reach it by name (inside a sealed module?)"
                return VerifyResult(False, why, time_s=elapsed, details={"unreachable": True})
            return VerifyResult(False, f"audit failed: {e}", time_s=elapsed)
        return self._verdict(target, found, elapsed)

    def _verdict(self, target: Target, found: list[Assumption], elapsed: float) -> VerifyResult:
        used, params, problems, notes = [], [], [], []
        for a in found:
            if a.name == target.path and a.kind is not Kind.PARAMETER:
                problems.append(
                    "it has no proof (admitted)" if a.kind is Kind.ADMITTED else "it has no proof"
                )
            elif a.kind is Kind.PARAMETER:
                params.append(self.show(a.name))
            elif a.kind is Kind.THEORY and a.name == IMPREDICATIVE_SET_LINE:
                if self.opts.allow_impredicative_set:
                    notes.append("impredicative Set")
                else:
                    problems.append("Set is impredicative (pass --allow-impredicative-set)")
            elif a.kind is Kind.AXIOM and a.name in self.allowed:
                used.append(a.name)
            else:
                problems.append(self._why_not(a))
        disagree = self._disagreement(used)
        if disagree:
            problems.append(disagree)
        details = {
            "parameters": params,
            "notes": notes,
            "kernel_name": target.name,
            "axioms_used": [self.show(a.name) for a in found if a.kind is Kind.AXIOM],
        }
        shown = tuple(self.show(a) for a in used)
        if problems:
            return VerifyResult(False, _reason(problems), shown, elapsed, details)
        return VerifyResult(True, "", shown, elapsed, details)

    def _why_not(self, a: Assumption) -> str:
        if a.kind in (Kind.UNSAFE, Kind.THEORY):
            return f"unsafe: {a.name}"
        name = self.show(a.name)
        if a.name in self.refused:
            return f"axiom {name}: {self.refused[a.name]}"
        if a.kind is Kind.ADMITTED:
            return f"axiom {name}: an admitted lemma, never allowed"
        if a.kind is Kind.NO_BODY:
            return f"axiom {name}: a constant without a proof (admitted inside a functor?)"
        return f"axiom {name}: not allowed (use --allow-axiom {name})"

    def _disagreement(self, used: list[str]) -> str:
        if self.checker is None:
            return "coqchk did not report"
        if not self.checker.ok:
            return self.checker.message
        missing = [a for a in used if a not in self.checker.axioms]
        if missing:
            return f"coqchk does not list the axiom(s) {', '.join(missing)}: the checkers disagree"
        return ""

    def ours(self, name: str) -> str:
        """A name in the user's terms as the audit session knows it (see `show`)."""
        hits = [(m, t) for m, t in self.display.items() if name == t or name.startswith(t + ".")]
        if not hits:
            return name
        mine, theirs = max(hits, key=lambda h: len(h[1]))
        return mine + name[len(theirs) :]

    def show(self, path: str) -> str:
        """A kernel path in the user's terms (our instantiated modules replaced)."""
        hits = [(m, t) for m, t in self.display.items() if path == m or path.startswith(m + ".")]
        if not hits:
            return path
        mine, theirs = max(hits, key=lambda h: len(h[0]))
        return theirs + path[len(mine) :]


def _reason(problems: list[str]) -> str:
    axioms = [p for p in problems if p.startswith("axiom ")]
    rest = [p for p in problems if not p.startswith("axiom ")]
    parts = []
    if axioms:
        parts.append("uses axiom(s) " + "; ".join(p[len("axiom ") :] for p in axioms))
    return "; ".join(parts + rest)


def instantiate(audit: _Audit, library: str, steps: Sequence[tuple[str, str]]) -> str:
    """A module path under which the constants declared inside `steps` of `library` can be
    named. Each step is (name, kind): "module" (plain), "functor" (applied to fresh parameter
    modules of the types Coq prints for it), "type" (a module type, given a fresh instance).
    "auto" asks Coq whether a module is a functor. Every module made on the way is
    remembered, with its name in the user's terms."""
    s = audit.session
    current, shown = library, audit.show(library)
    for name, kind in steps:
        target, shown = f"{current}.{name}", f"{shown}.{name}"
        if shown in audit.instances:
            current = audit.instances[shown]
            continue
        if kind == "module":
            current = target
            continue
        params = s.functor_params(target, module_type=kind == "type")
        if kind == "auto" and not params:
            current = audit.instances[shown] = target
            continue
        args: list[str] = []
        subst: dict[str, str] = {}
        for param, ty in params:
            p = s.declare_parameter(" ".join(subst.get(t, t) for t in ty.split()))
            subst[param] = p
            args.append(p)
            audit.display[f"Top.{p}"] = f"{shown}.{param}"
        if kind == "type":
            current = s.declare_parameter(" ".join([target, *args]))
        else:
            current = s.apply(target, args)
        audit.display[f"Top.{current}"] = shown
        audit.instances[shown] = current
    return current


def scope_steps(scopes: Sequence[Scope]) -> list[tuple[str, str]]:
    """`instantiate` steps for a theorem's enclosing scopes as the source states them."""
    steps = []
    for scope in scopes:
        if scope.kind == "Section":
            continue
        kind = "type" if scope.kind == "ModuleType" else "functor" if scope.params else "module"
        steps.append((scope.name, kind))
    return steps


# --- check a whole file ----------------------------------------------------------------------


def check_file(doc: CoqDocument, opts: CheckOptions) -> dict[str, VerifyResult]:
    """Re-check every theorem of `doc` with its own proof (see module docstring); results
    keyed by kernel name, in source order where known."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="springtail-check-") as tmp:
        lib = compile_in_place(doc, Path(tmp), opts)
        if isinstance(lib, str):
            return _all_rejected(doc, lib, time.perf_counter() - t0)
        try:
            with _opened(doc, lib, opts) as audit:
                audit.resolve_allowed()
                audit.read_checker()
                assert audit.checker is not None
                if not audit.checker.ok:
                    return _all_rejected(doc, audit.checker.message, time.perf_counter() - t0)
                return _in_source_order(doc, _audit_library(audit, doc, t0))
        except AuditError as e:
            return _all_rejected(doc, f"audit failed: {e}", time.perf_counter() - t0)


@contextlib.contextmanager
def _opened(doc: CoqDocument, lib: Library, opts: CheckOptions) -> Iterator[_Audit]:
    """An audit of `lib`: a session that loaded it (from the file we compiled), whose every
    library comes from the Coq installation or from a source vetted for plugins, and coqchk
    started on it and its dependencies outside the installation."""
    with AuditSession(lib.loadpath, lib.cwd, opts.timeout_s, opts.max_memory_mb) as s:
        display = {CHECK_LIBRARY: doc.ctx.logical_name} if lib.name == CHECK_LIBRARY else {}
        audit = _Audit(s, lib, opts, display=display)
        s.require(lib.name, lib.vo)
        system = coqlib().resolve()
        files = s.library_files()
        installed = {name for name, f in files.items() if f.resolve().is_relative_to(system)}
        ours = lib.cwd.parent
        for name, f in files.items():
            if name not in installed and not f.resolve().is_relative_to(ours.resolve()):
                raise AuditError(
                    f"library {name} was loaded from {f}, a compiled file Springtail did not "
                    "make (is its source outside the project's load path?)"
                )
        audit.installed = frozenset(installed)
        chk = run_coqchk(
            [lib.name, *sorted(set(files) - installed - {lib.name})],
            lib.loadpath,
            cwd=lib.cwd,
            impredicative_set=IMPREDICATIVE_SET in lib.loadpath,
            max_memory_mb=opts.max_memory_mb,
        )
        audit.checker_proc = chk
        try:
            yield audit
        finally:
            kill_group(chk)


def _audit_library(audit: _Audit, doc: CoqDocument, t0: float) -> dict[str, VerifyResult]:
    """Every constant of the library coqchk lists is audited (in batches: see `judge_all`);
    reported are the theorems (Coq's `prf` kind, `Goal`s, proofs the source states), the
    admitted constants, and any other constant resting on something not allowed, other than
    a declared axiom itself. Then the theorems inside functors and module types."""
    chk, s, lib = audit.checker, audit.session, audit.library.name
    assert chk is not None
    own = [c for c in dict.fromkeys(chk.constants) if c.startswith(lib + ".")]
    top = [c for c in own if chk.place(c) == "top"]
    kinds = read_glob(audit.library.glob, lib)
    stated = {
        f"{lib}.{t.qualified_name}"
        for t in doc.theorems
        if t.name and (t.has_proof or t.ender == "Admitted") and not _inside_functor_or_type(t)
    }
    wanted = {c for c in top if kinds.get(c) == "prf" or c in stated or _is_goal(c, kinds)}
    wanted |= set(s.search("Conjecture", lib, exact=False))
    verdicts = audit.judge_all([Target(c, c) for c in top], time.perf_counter() - t0)
    results = {
        c: v
        for c, v in verdicts.items()
        if c in wanted
        or not (v.ok or v.details.get("unreachable") or s.declared_kind(c, lib) is Kind.AXIOM)
    }
    elapsed = time.perf_counter() - t0
    results.update(_inner_theorems(audit, doc, elapsed))
    results.update(_functor_bodies(audit, own, set(results), elapsed))
    results.update(_module_type_fields(audit, own, set(results), elapsed))
    return results


def _is_goal(path: str, kinds: dict[str, str]) -> bool:
    """A `Goal`'s proof (Unnamed_thm, ...) or a Program obligation (the glob omits them)."""
    name = path.rsplit(".", 1)[-1]
    if kinds.get(path) == "def" and _UNNAMED_RE.match(name):
        return True
    return path not in kinds and _OBLIGATION_RE.match(name) is not None


def read_glob(path: Path | None, library: str) -> dict[str, str]:
    """Kernel name -> declaration kind (`prf`, `def`, `ax`, ...) from coqc's glob file, which
    Springtail asked for under a random name nothing else could guess. Only used to choose
    what to report: every constant is audited whatever it says."""
    if path is None or not path.is_file():
        return {}
    out = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for kind, where, name in re.findall(r"^([a-z]+) \d+:\d+ (\S+) (\S+)$", text, re.M):
        out[f"{library}.{name}" if where == "<>" else f"{library}.{where}.{name}"] = kind
    return out


def _inner_theorems(audit: _Audit, doc: CoqDocument, elapsed: float) -> dict[str, VerifyResult]:
    """The source's theorems inside functors and module types, reached by instantiation."""
    s, lib = audit.session, audit.library.name
    targets, out = [], {}
    for thm in doc.theorems:
        if not thm.name or not (thm.has_proof or thm.ender == "Admitted"):
            continue
        if not _inside_functor_or_type(thm):
            continue
        name = f"{lib}.{thm.qualified_name}"
        try:
            base = instantiate(audit, lib, scope_steps(thm.scopes))
        except AuditError as e:
            out[name] = VerifyResult(False, f"not audited: {e}", time_s=elapsed)
            continue
        path = f"Top.{base}.{thm.name}"
        if s.locate(f"{base}.{thm.name}") != [path]:
            out[name] = VerifyResult(
                False, "not audited: Coq does not see it where the source puts it", time_s=elapsed
            )
            continue
        targets.append(Target(name, path))
    out.update(audit.judge_all(targets, elapsed))
    return out


def _functor_bodies(
    audit: _Audit, own: list[str], reported: set[str], elapsed: float
) -> dict[str, VerifyResult]:
    """Constants inside functor bodies that the source did not name as theorems: each is
    audited through an instance of its functor, and reported when it rests on anything not
    allowed (an admitted lemma there has no proof at all)."""
    chk, lib = audit.checker, audit.library.name
    assert chk is not None
    targets, out = [], {}
    for path in own:
        if path in reported or chk.place(path) != "functor":
            continue
        names = path[len(lib) + 1 :].split(".")
        steps, prefix = [], lib
        for name in names[:-1]:
            prefix = f"{prefix}.{name}"
            steps.append((name, "functor" if prefix in chk.functors else "module"))
        try:
            base = instantiate(audit, lib, steps)
        except AuditError as e:
            out[path] = VerifyResult(False, f"not audited: {e}", time_s=elapsed)
            continue
        targets.append(Target(path, f"Top.{base}.{names[-1]}"))
    verdicts = audit.judge_all(targets, elapsed)
    out.update({n: v for n, v in verdicts.items() if not v.ok})
    return out


def _inside_functor_or_type(thm: CoqTheorem) -> bool:
    return any(s.kind == "ModuleType" or s.is_functor for s in thm.scopes)


def _module_type_fields(
    audit: _Audit, own: list[str], reported: set[str], elapsed: float
) -> dict[str, VerifyResult]:
    """The constants inside the library's module types, audited through a fresh instance of
    each (`Declare Module`): a field without a body is an interface parameter, unless Coq
    says it was admitted; anything resting on an admitted field or a non-allowed axiom is
    rejected (a `Goal` there included). A functor parameter also shows in coqchk's trace as
    a module type; Coq cannot instantiate that name, and it is skipped."""
    chk, lib = audit.checker, audit.library.name
    assert chk is not None
    targets = []
    for mt in sorted(chk.module_types - chk.modules):
        if not mt.startswith(lib + "."):
            continue
        names = mt[len(lib) + 1 :].split(".")
        steps = [*((n, "auto") for n in names[:-1]), (names[-1], "type")]
        try:
            base = instantiate(audit, lib, steps)
        except AuditError:
            continue
        fields = [c for c in own if c.startswith(mt + ".") and c not in reported]
        targets += [Target(c, f"Top.{base}.{c[len(mt) + 1 :]}") for c in fields]
    verdicts = audit.judge_all(targets, elapsed)
    return {n: v for n, v in verdicts.items() if not v.ok}


def _in_source_order(doc: CoqDocument, results: dict[str, VerifyResult]) -> dict[str, VerifyResult]:
    """Results ordered as their theorems appear in the source; the rest after, by name."""
    lib = doc.ctx.logical_name
    rank = {f"{lib}.{t.qualified_name}": k for k, t in enumerate(doc.theorems) if t.name}
    order = sorted(results, key=lambda n: (rank.get(n, len(rank)), n))
    return {n: results[n] for n in order}


def _all_rejected(doc: CoqDocument, why: str, elapsed: float) -> dict[str, VerifyResult]:
    named = [t for t in doc.theorems if t.name and t.ender != "Abort"]
    if not named:
        return {doc.ctx.logical_name or doc.ctx.path.stem: VerifyResult(False, why, time_s=elapsed)}
    lib = doc.ctx.logical_name
    return {f"{lib}.{t.qualified_name}": VerifyResult(False, why, time_s=elapsed) for t in named}


# --- verify one proof ------------------------------------------------------------------------


def verify_proof(
    doc: CoqDocument,
    thm: CoqTheorem,
    tactics: Sequence[str],
    *,
    imports: tuple[str, ...],
    opts: CheckOptions,
    raw: bool = False,
) -> VerifyResult:
    """Compile `thm` of `doc` with `tactics` as its proof and audit it (module docstring);
    `raw` takes `tactics` as the original proof sentences verbatim (`Proof.` and the ender
    included)."""
    t0 = time.perf_counter()
    target = f"springtail_target_{secrets.token_hex(6)}"
    built = build_check_file(doc, thm, tactics, imports, target, raw)
    if isinstance(built, str):
        return VerifyResult(False, built)
    text, line_of = built
    with tempfile.TemporaryDirectory(prefix="springtail-verify-") as tmp:
        deps = compile_dependencies(doc, Path(tmp), opts)
        out_root, work = Path(tmp) / "check", _work(Path(tmp))
        out_root.mkdir()
        src = out_root / f"{CHECK_LIBRARY}.v"
        src.write_text(text, encoding="utf-8")
        ours = (*deps, "-Q", str(out_root), "")
        args = [*doc.ctx.args, *ours, str(src)]
        rc, log = _run_coqc(args, work, opts.timeout_s, opts.max_memory_mb)
        if rc != 0:
            why = (
                f"coqc ran past {opts.timeout_s:.0f} s"
                if rc is None
                else "coqc rejected the proof: " + _coqc_failure(log, doc.ctx.path, src, line_of)
            )
            return VerifyResult(False, why, time_s=time.perf_counter() - t0)
        loadpath = (*_loadpath(doc.ctx.args), *ours)
        lib = Library(CHECK_LIBRARY, src.with_suffix(".vo"), loadpath, work)
        try:
            with _opened(doc, lib, opts) as audit:
                return _audit_one(audit, doc, thm, target, t0)
        except AuditError as e:
            return VerifyResult(False, f"audit failed: {e}", time_s=time.perf_counter() - t0)


def _audit_one(
    audit: _Audit, doc: CoqDocument, thm: CoqTheorem, target: str, t0: float
) -> VerifyResult:
    s, lib = audit.session, audit.library
    leak = _own_copy_loaded(doc, s.libraries())
    if leak:
        return VerifyResult(False, leak, time_s=time.perf_counter() - t0)
    audit.resolve_allowed()
    if _inside_functor_or_type(thm):
        base = instantiate(audit, lib.name, scope_steps(thm.scopes))
        path = f"Top.{base}.{target}"
        located = s.locate(f"{base}.{target}")
    else:
        located = s.locate(target)
        path = located[0] if located else ""
    if located != [path]:
        return VerifyResult(False, "audit failed: the checked theorem is not where expected")
    name = f"{doc.ctx.logical_name}.{thm.qualified_name}"
    audit.display[path] = name
    audit.read_checker()
    return audit.judge(Target(name, path), time.perf_counter() - t0)


def _own_copy_loaded(doc: CoqDocument, loaded: list[str]) -> str:
    if doc.ctx.logical_name in loaded and not doc.ctx.is_prelude:
        return (
            f"the compiled copy of {doc.ctx.logical_name} was loaded (by an import), so the "
            "proof could use this very lemma or later ones; held-out checks forbid it"
        )
    return ""


def build_check_file(
    doc: CoqDocument,
    thm: CoqTheorem,
    tactics: Sequence[str],
    imports: Sequence[str],
    target: str,
    raw: bool = False,
) -> tuple[str, dict[int, int]] | str:
    """The check file's text and, for each of its lines that comes from the user's file, that
    line's number there; or why it cannot be built.

    With imports, the statement is also stated before them, as a reference (admitted, under a
    `False` hypothesis no proof can use), and the check file ends by making Coq unify the
    reference's statement with the proved one: an import that changed what the statement
    means (a notation, an Ltac name, an instance) makes coqc refuse the file."""
    stmt = doc.sentences[thm.index].text
    renamed = rename_statement(stmt, thm.name, target)
    if renamed is None:
        return f"cannot rename the statement of {thm.name} for the check"
    prefix = _prefix(doc, thm)
    lines = [prefix]
    if imports:
        if thm.keyword not in THEOREM_KEYWORDS:
            return f"the policy's imports are not checked for a {thm.keyword} (only for theorems)"
        lines += _reference(stmt, thm.name, target)
    lines += [*imports, renamed]
    if not raw:
        lines.append("Proof.")
    lines += [f"  {t}" for t in tactics]
    if not raw:
        lines.append("Qed.")
    if imports:
        ref = target.replace("target", "ref")
        lines.append(
            f"Definition {target.replace('target', 'same')} := "
            f"(fun (A : Type) (_ : False -> A) (_ : A) => A) _ (@{ref}) (@{target})."
        )
    lines += [f"End {scope.name}." for scope in reversed(thm.scopes)]
    num_prefix_lines = prefix.count("\n") + 1
    line_of = {n: n for n in range(1, num_prefix_lines + 1)} if prefix else {}
    return "\n".join(lines) + "\n", line_of


def _reference(stmt: str, name: str, target: str) -> list[str]:
    """The statement, renamed, admitted inside a section whose `False` variable it is
    generalized over (`Proof using`): its type is `False -> statement`, useless to a proof."""
    ref, section = target.replace("target", "ref"), target.replace("target", "refsection")
    renamed = rename_statement(stmt, name, ref)
    assert renamed is not None  # the same sentence renamed to `target` worked
    return [
        f"Section {section}.",
        f"Variable {target.replace('target', 'never')} : False.",
        renamed,
        f"Proof using {target.replace('target', 'never')}.",
        "Admitted.",
        f"End {section}.",
    ]


def _prefix(doc: CoqDocument, thm: CoqTheorem) -> str:
    """The source before the theorem, with the signature constraints of enclosing modules
    dropped (see `without_module_type`); line breaks are kept, so lines still match."""
    pieces, last = [], 0
    for scope in thm.scopes:
        if scope.kind != "Module":
            continue
        header = doc.sentences[scope.index]
        cut = without_module_type(header.text)
        cut += "\n" * (header.text.count("\n") - cut.count("\n"))
        pieces += [doc.text[last : header.start], cut]
        last = header.end
    pieces.append(doc.text[last : doc.sentences[thm.index].start])
    return "".join(pieces).rstrip()
