"""Whole-file re-check of a Coq proof with `coqc`, and the axiom audit.

The check file is the source up to the theorem (verbatim, so earlier lemmas keep their own
proofs), the policy's imports, the original statement, `Proof.`, the tactics, `Qed.`, then
`Print Assumptions` and `Print Libraries`, each sent to its own file with `Redirect` (a tactic
that prints cannot forge them), then `End` for every open section and module.

Accepted only if coqc succeeds and:
- every axiom is allowed: a functor parameter or Module Type field of the enclosing modules,
  or a name the user allowed that is not an admitted lemma (an admitted lemma prints as an
  axiom of its own name; it is never allowed);
- no definition relies on switched-off guard, positivity or universe checking;
- the file's own compiled library was not loaded (an import that loads it would let the proof
  use the lemma itself or lemmas stated after it: held-out checks must stay leak-free).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prover.envs.base import VerifyResult
from prover.envs.coq_project import coq_subprocess_env, source_of
from prover.envs.coq_source import (
    CoqTheorem,
    find_theorems,
    split_sentences,
    without_module_type,
)
from prover.envs.process import kill_group, memory_cap

if TYPE_CHECKING:
    from prover.envs.coq import CoqDocument

_UNSAFE_RE = re.compile(r"is assumed to be (guarded|positive)|relies on an unsafe")
_HEADERS = ("Axioms:", "Section Variables:")
CHECK_MODULE = "SpringtailCheck"


@dataclass(frozen=True)
class Assumptions:
    axioms: tuple[str, ...]
    unsafe: tuple[str, ...]  # lines saying guard/positivity/universe checking was off
    unknown: tuple[str, ...]  # lines we could not classify (treated as failure)


def parse_assumptions(text: str) -> Assumptions:
    """Parse the output of `Print Assumptions` (printed with a very wide margin)."""
    axioms: list[str] = []
    unsafe: list[str] = []
    unknown: list[str] = []
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.strip() == "Closed under the global context":
            continue
        if line in _HEADERS:
            section = line
            continue
        if line[0].isspace() or line.startswith(":"):
            continue  # continuation of the previous entry's type
        if _UNSAFE_RE.search(line):
            unsafe.append(line.strip())
        elif section == "Axioms:":
            axioms.append(line.split(" : ")[0].strip())
        elif section == "Section Variables:":
            continue
        else:
            unknown.append(line.strip())
    return Assumptions(tuple(axioms), tuple(unsafe), tuple(unknown))


def build_check_file(
    doc: CoqDocument,
    thm: CoqTheorem,
    tactics: Sequence[str],
    imports: Sequence[str],
    out_dir: Path,
    allowed_axioms: Sequence[str],
    raw: bool = False,
) -> str:
    """The check file's text; `raw` takes `tactics` as the original proof sentences verbatim
    (`Proof.` included), for re-checking a file's own proofs."""
    stmt = doc.sentences[thm.index]
    lines = [_prefix(doc, thm), *imports, stmt.text]
    if not raw:
        lines.append("Proof.")
    lines += [f"  {t}" for t in tactics]
    lines += ["Qed.", "Set Printing Width 100000."]
    lines.append(f'Redirect "{out_dir / "assumptions"}" Print Assumptions {thm.name}.')
    lines.append(f'Redirect "{out_dir / "libraries"}" Print Libraries.')
    for i, name in enumerate(allowed_axioms):
        lines.append(f'Redirect "{out_dir / f"locate{i}"}" Locate {name}.')
    lines += [f"End {scope.name}." for scope in reversed(thm.scopes)]
    return "\n".join(lines) + "\n"


def _prefix(doc: CoqDocument, thm: CoqTheorem) -> str:
    """The source before the theorem, with the signature constraints of enclosing modules
    dropped (see `without_module_type`)."""
    pieces, last = [], 0
    for scope in thm.scopes:
        if scope.kind != "Module":
            continue
        header = doc.sentences[scope.index]
        pieces += [doc.text[last : header.start], without_module_type(header.code)]
        last = header.end
    pieces.append(doc.text[last : doc.sentences[thm.index].start])
    return "".join(pieces).rstrip()


def verify_proof(
    doc: CoqDocument,
    thm: CoqTheorem,
    tactics: Sequence[str],
    *,
    imports: tuple[str, ...],
    allowed_axioms: tuple[str, ...],
    timeout_s: float,
    max_memory_mb: int,
    raw: bool = False,
) -> VerifyResult:
    """Compile the check file with coqc and audit its assumptions (see module docstring).

    Inside a functor whose parameter is imported (`Module F (Import X : T)`), a parameter's
    field prints unqualified; such names are located in a second compile and allowed when
    they resolve to a field of a functor parameter."""
    t0 = time.perf_counter()
    compiled = _compile(doc, thm, tactics, imports, allowed_axioms, raw, timeout_s, max_memory_mb)
    if isinstance(compiled, str):
        return VerifyResult(False, compiled, time_s=time.perf_counter() - t0)
    res = _audit(doc, thm, compiled, allowed_axioms, time.perf_counter() - t0)
    unknown = res.details.get("not_allowed", [])
    if res.ok or not unknown or not thm.parameters:
        return res
    located = _compile(doc, thm, tactics, imports, unknown, raw, timeout_s, max_memory_mb)
    if isinstance(located, str):
        return res
    fields = {
        name
        for i, name in enumerate(unknown)
        if _located_constant(located.get(f"locate{i}", "")).split(".")[0] in thm.parameters
    }
    if fields != set(unknown):
        return res
    return VerifyResult(True, "", res.axioms, time.perf_counter() - t0)


def _compile(
    doc: CoqDocument,
    thm: CoqTheorem,
    tactics: Sequence[str],
    imports: Sequence[str],
    locate: Sequence[str],
    raw: bool,
    timeout_s: float,
    max_memory_mb: int,
) -> dict[str, str] | str:
    """Run coqc on the check file: the redirected outputs by name, or why it failed."""
    with tempfile.TemporaryDirectory(prefix="springtail-verify-") as tmp:
        out_dir = Path(tmp)
        src = out_dir / f"{CHECK_MODULE}.v"
        src.write_text(build_check_file(doc, thm, tactics, imports, out_dir, locate, raw))
        rc, log = _run_coqc(src, doc, timeout_s, max_memory_mb)
        if rc is None:
            return f"coqc ran past {timeout_s:.0f} s"
        if rc != 0:
            return f"coqc rejected the proof: {_last_error(log)}"
        return {p.stem: p.read_text() for p in out_dir.glob("*.out")}


def _audit(
    doc: CoqDocument,
    thm: CoqTheorem,
    outputs: dict[str, str],
    allowed_axioms: Sequence[str],
    elapsed: float,
) -> VerifyResult:
    if "assumptions" not in outputs or "libraries" not in outputs:
        return VerifyResult(False, "coqc produced no Print Assumptions output", time_s=elapsed)
    found = parse_assumptions(outputs["assumptions"])
    axioms = found.axioms
    if found.unsafe:
        return VerifyResult(False, f"unsafe: {'; '.join(found.unsafe)}", axioms, elapsed)
    if found.unknown:
        return VerifyResult(
            False, f"unrecognised assumptions: {'; '.join(found.unknown)}", axioms, elapsed
        )
    loaded = {line.strip() for line in outputs["libraries"].splitlines()[1:]}
    if doc.ctx.logical_name in loaded and not doc.ctx.is_prelude:
        return VerifyResult(
            False,
            f"the compiled copy of {doc.ctx.logical_name} was loaded (by an import), so the "
            "proof could use this very lemma or later ones; held-out checks forbid it",
            axioms,
            elapsed,
        )
    allowed, refusals = _allowed_names(doc, thm, outputs, allowed_axioms)
    bad = [a for a in axioms if not _is_allowed(a, thm, allowed)]
    if bad:
        why = "; ".join(refusals.get(a, "not allowed (use --allow-axiom NAME)") for a in bad)
        return VerifyResult(
            False,
            f"uses axiom(s) {', '.join(bad)}: {why}",
            axioms,
            elapsed,
            {"not_allowed": [a for a in bad if a not in refusals]},
        )
    return VerifyResult(True, "", axioms, elapsed)


def _is_allowed(axiom: str, thm: CoqTheorem, allowed: set[str]) -> bool:
    if axiom in allowed:
        return True
    head = axiom.split(".")[0]
    return head in thm.parameters or axiom in thm.fields


def _allowed_names(
    doc: CoqDocument, thm: CoqTheorem, outputs: dict[str, str], allowed_axioms: Sequence[str]
) -> tuple[set[str], dict[str, str]]:
    """The user-allowed names that are real axioms; admitted lemmas are refused with a reason."""
    admitted_here = {t.name for t in doc.theorems if t.ender == "Admitted" and t.index < thm.index}
    allowed: set[str] = set()
    refusals: dict[str, str] = {}
    for i, name in enumerate(allowed_axioms):
        if name.split(".")[-1] in admitted_here and "." not in name:
            refusals[name] = f"{name} is an admitted lemma of this file, never an allowed axiom"
            continue
        qualified = _located_constant(outputs.get(f"locate{i}", ""))
        if qualified and _is_admitted_in_library(qualified, doc):
            refusals[name] = f"{name} ({qualified}) is an admitted lemma, never an allowed axiom"
            continue
        allowed.add(name)
        if qualified:
            allowed.add(qualified)
    return allowed, refusals


def _located_constant(text: str) -> str:
    m = re.search(r"^Constant\s+(\S+)", text, re.M)
    return m.group(1) if m else ""


def _is_admitted_in_library(qualified: str, doc: CoqDocument) -> bool:
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        source = source_of(".".join(parts[:cut]), doc.ctx.mappings)
        if source is None:
            continue
        theorems = find_theorems(split_sentences(source.read_text(encoding="utf-8")))
        return any(t.name == parts[-1] and t.ender == "Admitted" for t in theorems)
    return False


def _run_coqc(
    src: Path, doc: CoqDocument, timeout_s: float, max_memory_mb: int
) -> tuple[int | None, str]:
    """Run coqc in its own process group, and kill the group afterwards: CoqHammer's prover
    processes detach from coqc and would otherwise outlive it."""
    proc = subprocess.Popen(
        ["coqc", "-q", *doc.ctx.args, str(src)],
        cwd=doc.ctx.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=memory_cap(max_memory_mb),
        env=coq_subprocess_env(str(src.parent)),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        kill_group(proc)


def _last_error(log: str) -> str:
    idx = log.rfind("Error:")
    text = log[idx:] if idx >= 0 else log[-400:]
    loc = re.findall(r'File "[^"]*", line (\d+)', log)
    where = f" (check file line {loc[-1]})" if loc else ""
    return " ".join(text.split())[:600] + where


def check_file(
    doc: CoqDocument, *, allowed_axioms: tuple[str, ...], timeout_s: float, max_memory_mb: int
) -> dict[str, VerifyResult]:
    """Re-check every theorem of `doc` with its own proof in one `coqc` run.

    The file is compiled as a copy with `Print Assumptions` redirected to a file after each
    theorem's proof; coqc stops at the first error, and every theorem from there on is
    rejected with that error.
    """
    t0 = time.perf_counter()
    theorems = list(doc.theorems)
    with tempfile.TemporaryDirectory(prefix="springtail-check-") as tmp:
        out_dir = Path(tmp)
        pieces, last = [], 0
        for i, thm in enumerate(theorems):
            if not thm.ender:
                continue
            end = doc.sentences[thm.end_index].end
            pieces += [doc.text[last:end], "\nSet Printing Width 100000."]
            pieces.append(f'\nRedirect "{out_dir / f"a{i}"}" Print Assumptions {thm.name}.\n')
            last = end
        pieces.append(doc.text[last:])
        pieces += [f'\nRedirect "{out_dir / "libraries"}" Print Libraries.\n']
        for j, name in enumerate(allowed_axioms):
            pieces.append(f'Redirect "{out_dir / f"locate{j}"}" Locate {name}.\n')
        src = out_dir / f"{CHECK_MODULE}.v"
        src.write_text("".join(pieces))
        rc, log = _run_coqc(src, doc, timeout_s, max_memory_mb)
        outputs = {p.stem: p.read_text() for p in out_dir.glob("*.out")}
    elapsed = time.perf_counter() - t0
    error = (
        "" if rc == 0 else (f"coqc ran past {timeout_s:.0f} s" if rc is None else _last_error(log))
    )
    results: dict[str, VerifyResult] = {}
    for i, thm in enumerate(theorems):
        if not thm.ender:
            results[thm.name] = VerifyResult(False, "no proof", time_s=elapsed)
        elif thm.ender in ("Admitted", "Abort"):
            results[thm.name] = VerifyResult(False, f"proof ends in {thm.ender}", time_s=elapsed)
        elif f"a{i}" not in outputs:
            results[thm.name] = VerifyResult(False, f"not checked: {error}", time_s=elapsed)
        else:
            own = {
                "assumptions": outputs[f"a{i}"],
                "libraries": "",
                **{k: v for k, v in outputs.items() if k.startswith("locate")},
            }
            results[thm.name] = _audit(doc, thm, own, allowed_axioms, elapsed)
    return results
