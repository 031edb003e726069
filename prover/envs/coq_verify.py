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

import re
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from prover.envs.base import VerifyResult
from prover.envs.coq_audit import AuditError, Kind
from prover.envs.coq_compile import (
    CHECK_LIBRARY,
    CheckOptions,
    Library,
    compile_dependencies,
    compile_in_place,
    coqc_failure,
    reader_flags,
    run_coqc,
    work_dir,
)
from prover.envs.coq_judge import Audit, Target, instantiate, opened_audit, scope_steps
from prover.envs.coq_source import (
    THEOREM_KEYWORDS,
    CoqDocument,
    CoqTheorem,
    rename_statement,
    without_module_type,
)

_UNNAMED_RE = re.compile(r"^Unnamed_thm\d*$")
_OBLIGATION_RE = re.compile(r"^.+_obligation_\d+$")


def check_file(doc: CoqDocument, opts: CheckOptions) -> dict[str, VerifyResult]:
    """Re-check every theorem of `doc` with its own proof (see module docstring); results
    keyed by kernel name, in source order where known."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="springtail-check-") as tmp:
        lib = compile_in_place(doc, Path(tmp), opts)
        if isinstance(lib, str):
            return _all_rejected(doc, lib, time.perf_counter() - t0)
        try:
            with opened_audit(doc, lib, opts) as audit:
                audit.resolve_allowed()
                audit.read_checker()
                assert audit.checker is not None
                if not audit.checker.ok:
                    return _all_rejected(doc, audit.checker.message, time.perf_counter() - t0)
                return _in_source_order(doc, _audit_library(audit, doc, t0))
        except AuditError as e:
            return _all_rejected(doc, f"audit failed: {e}", time.perf_counter() - t0)


def _audit_library(audit: Audit, doc: CoqDocument, t0: float) -> dict[str, VerifyResult]:
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


def _inner_theorems(audit: Audit, doc: CoqDocument, elapsed: float) -> dict[str, VerifyResult]:
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
    audit: Audit, own: list[str], reported: set[str], elapsed: float
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
    audit: Audit, own: list[str], reported: set[str], elapsed: float
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
        out_root, work = Path(tmp) / "check", work_dir(Path(tmp))
        out_root.mkdir()
        src = out_root / f"{CHECK_LIBRARY}.v"
        src.write_text(text, encoding="utf-8")
        ours = (*deps, "-Q", str(out_root), "")
        args = [*doc.ctx.args, *ours, str(src)]
        rc, log = run_coqc(args, work, opts.timeout_s, opts.max_memory_mb)
        if rc != 0:
            why = (
                f"coqc ran past {opts.timeout_s:.0f} s"
                if rc is None
                else "coqc rejected the proof: " + coqc_failure(log, doc.ctx.path, src, line_of)
            )
            return VerifyResult(False, why, time_s=time.perf_counter() - t0)
        loadpath = (*reader_flags(doc.ctx.args), *ours)
        lib = Library(CHECK_LIBRARY, src.with_suffix(".vo"), loadpath, work)
        try:
            with opened_audit(doc, lib, opts) as audit:
                return _audit_one(audit, doc, thm, target, t0)
        except AuditError as e:
            return VerifyResult(False, f"audit failed: {e}", time_s=time.perf_counter() - t0)


def _audit_one(
    audit: Audit, doc: CoqDocument, thm: CoqTheorem, target: str, t0: float
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
