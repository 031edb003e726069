"""Whole-file re-checks: `coqc` compiles, a separate Coq process audits, `coqchk` confirms.

Two entry points:
- `check_file`: the user's file as it stands. `coqc` compiles it in place (its own logical
  name and load path; outputs, caches and anything the code writes with a relative path go
  to a private temporary folder), and must exit 0, else every theorem is rejected with
  coqc's message.
- `verify_proof`: one theorem with a candidate proof. The check file is the source up to
  the theorem (verbatim; enclosing modules lose their signature constraint, which a truncated
  body could not meet), the policy's imports, the original statement renamed to a fresh
  name, `Proof.`, the tactics, `Qed.`, then `End` for every open section and module; it is
  compiled as the library `SpringtailCheck`.

Then the audit (`coq_audit`): a fresh Coq process whose whole input we write `Require`s the
compiled library, confirms Coq loaded the file we compiled, and asks `Print Assumptions` of
each theorem by its kernel name: the theorems to report come from Coq (`Search is:Lemma ...
inside` the library, admitted constants from `Search is:Conjecture`), with proofs the
sentence splitter finds (interactive definitions, theorems inside functors and module types,
reached through fresh parameter modules) added when Coq confirms they exist. `coqchk`
re-checks the library meanwhile; a theorem is accepted only when coqchk succeeds, every
axiom it uses is one coqchk also lists, and every assumption is allowed: a field of a
functor parameter or module type, or a declared axiom named with `--allow-axiom` (never an
admitted constant, however it was made; never switched-off guard, positivity or universe
checking; impredicative Set only when allowed, and then said).
"""

from __future__ import annotations

import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prover.envs.base import EnvError, VerifyResult
from prover.envs.coq_audit import (
    IMPREDICATIVE_SET,
    THEOREM_KINDS,
    Assumption,
    AuditError,
    AuditSession,
    CheckerReport,
    Kind,
    read_coqchk,
    run_coqchk,
)
from prover.envs.coq_project import coq_subprocess_env, source_of
from prover.envs.coq_source import CoqTheorem, Scope, rename_statement, without_module_type
from prover.envs.process import kill_group, memory_cap

if TYPE_CHECKING:
    from prover.envs.coq import CoqDocument

CHECK_LIBRARY = "SpringtailCheck"
_UNNAMED_RE = re.compile(r"^Unnamed_thm\d*$")


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


@dataclass(frozen=True)
class Target:
    """A constant to audit: its name in the user's terms and the path Coq knows it by."""

    name: str  # e.g. LF.Lists.NatList.app_assoc, or LF.Sets.Make.union_comm for a functor's
    path: str  # the kernel path to ask about (inside an instantiated module for functors)
    admitted_fields: frozenset[str] = frozenset()  # module-type fields whose source says Admitted


# --- compiling -------------------------------------------------------------------------------


def _run_coqc(
    args: Sequence[str], cwd: Path, timeout_s: float, max_memory_mb: int
) -> tuple[int | None, str]:
    """Run coqc in its own process group, killed afterwards (CoqHammer's provers detach)."""
    proc = subprocess.Popen(
        ["coqc", "-q", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=memory_cap(max_memory_mb),
        env=coq_subprocess_env(str(cwd)),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        kill_group(proc)


def _coqc_failure(log: str, where: str, line_of: dict[int, int] | None = None) -> str:
    """coqc's last error, located in the user's file where possible."""
    idx = log.rfind("Error:")
    text = " ".join((log[idx:] if idx >= 0 else log[-400:]).split())[:600]
    lines = [int(n) for n in re.findall(r'File "[^"]*", line (\d+)', log)]
    if not lines:
        return text
    line = lines[-1]
    if line_of is None:
        return f"{text} ({where} line {line})"
    if line in line_of:
        return f"{text} (line {line_of[line]} of {where})"
    return f"{text} (in the proof being checked)"


def _missing_dependency(log: str, doc: CoqDocument) -> str | None:
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
                f"dependencies first (e.g. `make`, or `coqc {_flags(doc)} {source}`)"
            )
    m = re.search(r"Compiled library (\S+) .*?makes inconsistent assumptions", log, re.S)
    if m:
        return (
            f"{doc.ctx.path}: the compiled {m[1]} is out of date with its dependencies: "
            "rebuild the project (e.g. `make`) and check again"
        )
    return None


def _flags(doc: CoqDocument) -> str:
    return " ".join(a if a and " " not in a else repr(a) for a in doc.ctx.args) or ""


def compile_in_place(doc: CoqDocument, tmp: Path, opts: CheckOptions) -> Library | str:
    """Compile the user's file under its own logical name into `tmp`; the library, or why
    coqc refused it. A missing or stale dependency raises `EnvError` (a usage error)."""
    folder, prefix = doc.ctx.mapping
    rel = doc.ctx.path.relative_to(folder).with_suffix(".vo")
    out_root, work = tmp / "lib", tmp / "work"
    vo = out_root / rel
    vo.parent.mkdir(parents=True)
    work.mkdir()
    ours = ("-Q", str(out_root), prefix)
    args = [*doc.ctx.args, *ours, "-o", str(vo), str(doc.ctx.path)]
    rc, log = _run_coqc(args, work, opts.timeout_s, opts.max_memory_mb)
    if rc is None:
        return f"coqc ran past {opts.timeout_s:.0f} s"
    if rc != 0:
        missing = _missing_dependency(log, doc)
        if missing:
            raise EnvError(missing)
        return f"coqc rejected the file: {_coqc_failure(log, str(doc.ctx.path))}"
    return Library(doc.ctx.logical_name, vo, (*_loadpath(doc.ctx.args), *ours), work)


def _loadpath(args: Sequence[str]) -> tuple[str, ...]:
    """The -Q/-R/-noinit/-impredicative-set flags of `args` (what a reader of the library
    needs), in order."""
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("-Q", "-R") and i + 2 < len(args):
            out += args[i : i + 3]
            i += 3
        else:
            if args[i] in ("-noinit", "-impredicative-set", "-indices-matter"):
                out.append(args[i])
            i += 1
    return tuple(out)


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
    display: dict[str, str] = field(default_factory=dict)  # our module path -> user's terms
    instances: dict[str, str] = field(default_factory=dict)  # user's module path -> ours

    def resolve_allowed(self) -> None:
        """Map each `--allow-axiom` name to a kernel path; admitted constants are refused."""
        for given in self.opts.allowed_axioms:
            paths = self.session.locate(self.ours(given))
            if len(paths) > 1:
                raise EnvError(
                    f"--allow-axiom {given} is ambiguous: {', '.join(paths)}; give the "
                    "qualified name"
                )
            for path in paths:
                kind = self.session.declared_kind(path, self.session.library_of(path))
                if kind is Kind.AXIOM:
                    self.allowed[path] = given
                else:
                    self.refused[path] = (
                        f"{path} is an admitted lemma, never an allowed axiom "
                        f"(although --allow-axiom {given} was given)"
                        if kind is Kind.ADMITTED
                        else f"{path} is not a declared axiom (--allow-axiom {given} allows "
                        "only constants declared with Axiom/Parameter)"
                    )

    def judge(self, target: Target, elapsed: float) -> VerifyResult:
        try:
            found = self.session.assumptions(target.path)
        except AuditError as e:
            return VerifyResult(False, f"audit failed: {e}", time_s=elapsed)
        return self._verdict(target, found, elapsed)

    def _verdict(self, target: Target, found: list[Assumption], elapsed: float) -> VerifyResult:
        used, params, problems, notes = [], [], [], []
        for a in found:
            if a.name == target.path:
                problems.append("it has no proof (admitted)")
            elif a.kind is Kind.PARAMETER and a.name.rsplit(".", 1)[-1] in target.admitted_fields:
                problems.append(f"it uses {self.show(a.name)}, admitted in its module type")
            elif a.kind is Kind.PARAMETER:
                params.append(self.show(a.name))
            elif a.kind is Kind.THEORY and a.name == IMPREDICATIVE_SET:
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
        return f"axiom {name}: not allowed (use --allow-axiom {a.name})"

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
    current, shown = library, library
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
        chk = run_coqchk(
            lib.name,
            lib.loadpath,
            cwd=lib.cwd,
            impredicative_set="-impredicative-set" in lib.loadpath,
            timeout_s=opts.timeout_s,
            max_memory_mb=opts.max_memory_mb,
        )
        try:
            return _audit_file(doc, lib, opts, chk, t0)
        finally:
            kill_group(chk)


def _audit_file(
    doc: CoqDocument, lib: Library, opts: CheckOptions, chk: subprocess.Popen[str], t0: float
) -> dict[str, VerifyResult]:
    try:
        with AuditSession(lib.loadpath, lib.cwd, opts.timeout_s, opts.max_memory_mb) as s:
            audit = _Audit(s, lib, opts)
            s.require(lib.name, lib.vo)
            audit.resolve_allowed()
            targets, unreachable = _targets(audit, doc)
            audit.checker = read_coqchk(chk, opts.timeout_s)
            elapsed = time.perf_counter() - t0
            results = {t.name: audit.judge(t, elapsed) for t in targets}
            for name, why in unreachable.items():
                results[name] = VerifyResult(False, why, time_s=elapsed)
            results.update(_guards(audit, results, elapsed))
            return _in_source_order(doc, results)
    except AuditError as e:
        return _all_rejected(doc, f"audit failed: {e}", time.perf_counter() - t0)


def _targets(audit: _Audit, doc: CoqDocument) -> tuple[list[Target], dict[str, str]]:
    """What to report: what Coq says is a theorem or admitted, then the proofs the splitter
    finds that Coq confirms (see module docstring); and the ones that cannot be reached."""
    s, lib = audit.session, audit.library.name
    found: dict[str, Target] = {}
    for kind in (*THEOREM_KINDS, "Example", "Conjecture"):
        for path in s.search(kind, lib):
            found.setdefault(path, Target(path, path))
    for path in s.search("Definition", lib):
        if _UNNAMED_RE.match(path.rsplit(".", 1)[-1]):
            found.setdefault(path, Target(path, path))  # a `Goal`
    unreachable: dict[str, str] = {}
    for thm in doc.theorems:
        if not thm.name or not (thm.has_proof or thm.ender == "Admitted"):
            continue
        name = f"{lib}.{thm.qualified_name}"
        if not _inside_functor_or_type(thm):
            if name not in found and s.locate(name) == [name]:
                found[name] = Target(name, name)
            continue
        try:
            base = instantiate(audit, lib, scope_steps(thm.scopes))
        except AuditError as e:
            unreachable[name] = f"not audited: {e}"
            continue
        path = f"Top.{base}.{thm.name}"
        if s.locate(f"{base}.{thm.name}") != [path]:
            unreachable[name] = "not audited: Coq does not see it where the source puts it"
            continue
        found[name] = Target(name, path, _admitted_fields(doc, thm))
    return list(found.values()), unreachable


def _inside_functor_or_type(thm: CoqTheorem) -> bool:
    return any(s.kind == "ModuleType" or s.is_functor for s in thm.scopes)


def _admitted_fields(doc: CoqDocument, thm: CoqTheorem) -> frozenset[str]:
    """Names the source admits inside the module type `thm` sits in (a module type's field
    and an admitted lemma look the same to Coq; the source decides, and only to refuse)."""
    types = [s for s in thm.scopes if s.kind == "ModuleType"]
    if not types:
        return frozenset()
    inner = types[-1]
    return frozenset(
        t.name for t in doc.theorems if t.ender == "Admitted" and inner in t.scopes and t.name
    )


def _guards(
    audit: _Audit, results: dict[str, VerifyResult], elapsed: float
) -> dict[str, VerifyResult]:
    """Constants Coq's checker sees that the reports above do not cover: a body-less constant
    of the library that is neither reported nor a declared axiom, or a constant without a
    proof inside a functor body. Each becomes a rejection."""
    chk, s, lib = audit.checker, audit.session, audit.library.name
    out: dict[str, VerifyResult] = {}
    if chk is None or not chk.ok:
        return out
    for path in sorted(chk.axioms):
        if path.startswith(lib + ".") and path not in results:
            kind = s.declared_kind(path, lib)
            if kind is not Kind.AXIOM:
                out[path] = VerifyResult(False, f"it has no proof ({kind.value})", time_s=elapsed)
    for path in chk.constants:
        if path in results or not path.startswith(lib + "."):
            continue
        steps = _trace_steps(chk, lib, path)
        if not steps:
            continue  # at the library's top, or a field of a module type
        try:
            base = instantiate(audit, lib, steps)
            if not base.startswith("Springtail_"):
                continue  # plain modules all the way: covered by the searches above
            found = s.assumptions(f"{base}.{path.rsplit('.', 1)[-1]}")
        except AuditError as e:
            out[path] = VerifyResult(False, f"not audited: {e}", time_s=elapsed)
            continue
        if any(a.name == f"Top.{base}.{path.rsplit('.', 1)[-1]}" for a in found):
            out[path] = VerifyResult(False, "it has no proof (inside a functor)", time_s=elapsed)
    return out


def _in_source_order(doc: CoqDocument, results: dict[str, VerifyResult]) -> dict[str, VerifyResult]:
    """Results ordered as their theorems appear in the source; the rest after, by name."""
    lib = doc.ctx.logical_name
    rank = {f"{lib}.{t.qualified_name}": k for k, t in enumerate(doc.theorems) if t.name}
    order = sorted(results, key=lambda n: (rank.get(n, len(rank)), n))
    return {n: results[n] for n in order}


def _trace_steps(chk: CheckerReport, lib: str, path: str) -> list[tuple[str, str]]:
    """`instantiate` steps to reach the constant `path` as coqchk names it; [] for one at the
    library's top or inside a module type (its fields are parameters)."""
    parts = path[len(lib) + 1 :].split(".")[:-1]
    steps, prefix = [], lib
    for name in parts:
        prefix = f"{prefix}.{name}"
        if prefix in chk.module_types and prefix not in chk.modules:
            return []
        steps.append((name, "auto"))
    return steps


def _all_rejected(doc: CoqDocument, why: str, elapsed: float) -> dict[str, VerifyResult]:
    named = [t for t in doc.theorems if t.name and t.ender != "Abort"]
    if not named:
        return {str(doc.ctx.path): VerifyResult(False, why, time_s=elapsed)}
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
    nonce = secrets.token_hex(6)
    target = f"springtail_target_{nonce}"
    built = build_check_file(doc, thm, tactics, imports, target, raw)
    if built is None:
        return VerifyResult(False, f"cannot rename the statement of {thm.name} for the check")
    text, line_of = built
    with tempfile.TemporaryDirectory(prefix="springtail-verify-") as tmp:
        out_root, work = Path(tmp) / "lib", Path(tmp) / "work"
        out_root.mkdir()
        work.mkdir()
        src = out_root / f"{CHECK_LIBRARY}.v"
        src.write_text(text, encoding="utf-8")
        ours = ("-Q", str(out_root), "")
        rc, log = _run_coqc(
            [*doc.ctx.args, *ours, str(src)], work, opts.timeout_s, opts.max_memory_mb
        )
        if rc is None:
            return VerifyResult(
                False, f"coqc ran past {opts.timeout_s:.0f} s", time_s=time.perf_counter() - t0
            )
        if rc != 0:
            why = _coqc_failure(log, str(doc.ctx.path), line_of)
            return VerifyResult(
                False, f"coqc rejected the proof: {why}", time_s=time.perf_counter() - t0
            )
        lib = Library(
            CHECK_LIBRARY, src.with_suffix(".vo"), (*_loadpath(doc.ctx.args), *ours), work
        )
        chk = run_coqchk(
            lib.name,
            lib.loadpath,
            cwd=work,
            impredicative_set="-impredicative-set" in lib.loadpath,
            timeout_s=opts.timeout_s,
            max_memory_mb=opts.max_memory_mb,
        )
        try:
            return _audit_one(doc, thm, lib, target, opts, chk, t0)
        finally:
            kill_group(chk)


def _audit_one(
    doc: CoqDocument,
    thm: CoqTheorem,
    lib: Library,
    target: str,
    opts: CheckOptions,
    chk: subprocess.Popen[str],
    t0: float,
) -> VerifyResult:
    try:
        with AuditSession(lib.loadpath, lib.cwd, opts.timeout_s, opts.max_memory_mb) as s:
            audit = _Audit(s, lib, opts, display={CHECK_LIBRARY: doc.ctx.logical_name})
            s.require(lib.name, lib.vo)
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
                return VerifyResult(
                    False, "audit failed: the checked theorem is not where expected"
                )
            name = f"{doc.ctx.logical_name}.{thm.qualified_name}"
            audit.display[path] = name
            audit.checker = read_coqchk(chk, opts.timeout_s)
            return audit.judge(
                Target(name, path, _admitted_fields(doc, thm)), time.perf_counter() - t0
            )
    except AuditError as e:
        return VerifyResult(False, f"audit failed: {e}", time_s=time.perf_counter() - t0)


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
) -> tuple[str, dict[int, int]] | None:
    """The check file's text and, for each of its lines that comes from the user's file, that
    line's number there; None if the statement cannot be renamed to `target`."""
    stmt = rename_statement(doc.sentences[thm.index].text, thm.name, target)
    if stmt is None:
        return None
    prefix = _prefix(doc, thm)
    num_prefix_lines = prefix.count("\n") + 1
    lines = [prefix, *imports, stmt]
    if not raw:
        lines.append("Proof.")
    lines += [f"  {t}" for t in tactics]
    if not raw:
        lines.append("Qed.")
    lines += [f"End {scope.name}." for scope in reversed(thm.scopes)]
    line_of = {n: n for n in range(1, num_prefix_lines + 1)} if prefix else {}
    return "\n".join(lines) + "\n", line_of


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
