"""Judging a compiled library: the audit session, coqchk, and the verdict for each
constant (see coq_audit for how Coq is asked, coq_verify for what is asked about)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prover.envs.base import EnvError, VerifyResult
from prover.envs.coq_audit import (
    IMPREDICATIVE_SET_LINE,
    Assumption,
    AuditError,
    AuditSession,
    CheckerReport,
    Kind,
    UnknownName,
    read_coqchk,
    run_coqchk,
)
from prover.envs.coq_compile import CHECK_LIBRARY, CheckOptions, Library
from prover.envs.coq_project import IMPREDICATIVE_SET, coqlib
from prover.envs.coq_source import CoqDocument, Scope
from prover.envs.process import kill_group

_BATCH = 200  # targets per batched Print Assumptions (see `Audit.judge_all`)


@dataclass(frozen=True)
class Target:
    """A constant to audit: its name in the user's terms and the path Coq knows it by."""

    name: str  # e.g. LF.Lists.NatList.app_assoc, or LF.Sets.Make.union_comm for a functor's
    path: str  # the kernel path to ask about (inside an instantiated module for functors)


# --- compiling -------------------------------------------------------------------------------


@dataclass
class Audit:
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
                # a standard-library name is looked up as given, never through the checked
                # library's renaming: a file whose own logical name were `Coq` would answer it
                wanted = given if given.split(".")[0] == "Coq" else self.ours(given)
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
        if (path.startswith("Coq.") or given.startswith("Coq.")) and library not in self.installed:
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
        except UnknownName:
            why = "not audited: Coq cannot reach it by name (inside a sealed module?)"
            return VerifyResult(False, why, time_s=elapsed, details={"unreachable": True})
        except AuditError as e:
            return VerifyResult(False, f"audit failed: {e}", time_s=elapsed)
        return self._verdict(target, found, elapsed)

    def _verdict(self, target: Target, found: list[Assumption], elapsed: float) -> VerifyResult:
        used, params, problems, notes = [], [], [], []
        allowable = 0
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
                if a.kind is Kind.AXIOM and a.name not in self.refused:
                    allowable += 1  # a declared axiom that --allow-axiom could accept
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
            only_axioms = allowable == len(problems)
            return VerifyResult(
                ok=False,
                reason=_reason(problems),
                axioms=shown,
                time_s=elapsed,
                details=details,
                only_axioms=only_axioms,
            )
        return VerifyResult(ok=True, axioms=shown, time_s=elapsed, details=details)

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
        return _rewrite(name, [(theirs, mine) for mine, theirs in self.display.items()])

    def show(self, path: str) -> str:
        """A kernel path in the user's terms (our instantiated modules replaced)."""
        return _rewrite(path, list(self.display.items()))


def _rewrite(name: str, prefixes: list[tuple[str, str]]) -> str:
    """`name` with its longest matching dotted prefix `a` of the (a, b) pairs replaced by b."""
    hits = [(a, b) for a, b in prefixes if name == a or name.startswith(a + ".")]
    if not hits:
        return name
    a, b = max(hits, key=lambda h: len(h[0]))
    return b + name[len(a) :]


def _reason(problems: list[str]) -> str:
    axioms = [p for p in problems if p.startswith("axiom ")]
    rest = [p for p in problems if not p.startswith("axiom ")]
    parts = []
    if axioms:
        parts.append("uses axiom(s) " + "; ".join(p[len("axiom ") :] for p in axioms))
    return "; ".join(parts + rest)


def instantiate(audit: Audit, library: str, steps: Sequence[tuple[str, str]]) -> str:
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


@contextlib.contextmanager
def opened_audit(doc: CoqDocument, lib: Library, opts: CheckOptions) -> Iterator[Audit]:
    """An audit of `lib`: a session that loaded it (from the file we compiled), whose every
    library comes from the Coq installation or from a source vetted for plugins, and coqchk
    started on it and its dependencies outside the installation."""
    with AuditSession(lib.loadpath, lib.cwd, opts.timeout_s, opts.max_memory_mb) as s:
        display = {CHECK_LIBRARY: doc.ctx.logical_name} if lib.name == CHECK_LIBRARY else {}
        audit = Audit(s, lib, opts, display=display)
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
