"""When a Lean theorem counts as proved: the whole-file check and the axiom audit.

The rule (DESIGN.md, "Soundness: the assistant decides"): a theorem is proved only if Lean
itself re-checked the whole proof from scratch, in a process whose input we wrote, and it uses
no sorry and no axiom beyond the allowed ones. Never decided from our own parse of the file,
from text the file's code can shape, or from files it can write. For the Lean REPL this is:

1. **Check.** The file (for `verify`: the file through the theorem, with the candidate proof)
   is elaborated as one REPL command without `env`, i.e. in a fresh environment built from its
   header, in a REPL process started for this check alone (never the one that steps through
   tactics). Any error-severity message fails it; any sorry (the REPL's `sorries` field or a
   "declaration uses 'sorry'" warning) fails it (`elaboration_problems`), wherever it stands:
   an `example`, which adds no constant, is covered by this step only.
2. **Hand-over.** That environment is saved with `{"pickleTo": P, "env": n}`: the REPL writes
   its imports and the constants the file added, nothing else. P is a random file name in a
   folder (random name, mode 0700) made only once the elaboration has answered; `pickleTo`
   writes into an existing folder, so it is made just before that request. Then the whole
   process group of the check process is killed (SIGKILL, `process.kill_group`), so nothing
   the file started there (a task its `#eval` spawned, a child process) runs any more when the
   audit reads P. P and its folder are removed after the audit.
3. **Audit.** A fresh REPL process, in which no code of the file has ever run, loads P with
   `{"unpickleEnvFrom": P}`: it imports the header's modules and *replays* every constant
   through the kernel (`Lean.Environment.replay`), so each proof is re-checked again, by the
   kernel alone. There we send `{"cmd": "#print axioms _root_.«A».«b»", "env": m}`, one
   command per declaration (each theorem; for `check_file` also each named `def`, `abbrev`,
   `instance` and `opaque` that is not `unsafe` or `partial`, reported only when rejected), and
   read its answer (`read_axioms_answer`): exactly one info message,
   `'A.b' depends on axioms: [x, y]` or `'A.b' does not depend on any axioms`, naming that
   very constant (names are compared component by component; `«»` quoting and dots inside
   quoted components are handled). A missing, ambiguous, unparsable or other-named answer, an
   error, or a crash rejects the declaration.
4. **Judgement** (`judge`): every axiom must be allowed: `propext`, `Classical.choice`,
   `Quot.sound`, the names the user allows (each must be a Lean identifier, `allowed_axioms`),
   and `Lean.ofReduceBool`/`Lean.trustCompiler` only with `allow_native_decide`. `sorryAx` is
   never allowed.

What this closes. Messages the checked file prints (`#eval IO.println`, `#print "..."`,
`logInfo`, a macro or elaborator that logs text, a theorem or string whose text contains
"depends on axioms") belong to the check command and are never read for axioms. The file's
own syntax, macros, elaborators and attributes (say `elab_rules` that redefine `#print axioms`)
are environment-extension entries, which unpickling does not restore: the audit runs Lean's
built-in `#print axioms`. `_root_.` and `«»` make the name resolve to exactly our constant
whatever namespaces the file leaves open. `initialize` blocks of the file never run (they run
only where a module is imported, and the audit imports only the header's modules). Code the
file runs at elaboration time (`#eval`, `run_cmd`, tasks it spawns, writes to stdout) runs in
the check process, never in the audit process, so it cannot answer for the audit; it has
finished or been killed before the pickle's path exists and before the audit reads it. A user
`axiom`, `sorryAx` used directly, or `set_option debug.skipKernelTC true` show up or are undone
in the audit: replay always runs the kernel.

Residual risks (not closed here):
- Code the file runs while it is elaborated runs with our user's rights: it can write any file
  we can, such as the `.olean` files of the header's modules, and a process it starts outside
  the check's process group (`setsid`, a daemon) survives the kill and could still find the new
  folder and replace P in the moment between `pickleTo` and the audit. A forged P is still
  re-checked by the kernel, so it cannot prove a false statement, but it could swap the
  statement of the audited constant. Checking files from an untrusted source needs an OS
  sandbox around the check process (read-only project, private scratch folder, no network).
- The header's modules are trusted: their `initialize` code runs in the audit process.
- Options the file sets with `set_option` persist into the audit (the REPL pickles them); they
  can change how the answer is printed, which then fails to parse (a rejection), not what
  `collectAxioms` finds.
- Which declarations `check_file` reports, and which constant `verify` audits, come from our
  parse of the file (lean_source.py). Where the parse can tell it may be wrong (a name declared
  twice, an `end` that does not close the scope it sees open, unbalanced brackets) the
  declaration is rejected and never audited. A mistake it cannot tell makes a declaration
  unreported or audits another name: usually an unknown constant (a rejection), but it could
  be a constant of the imports whose audit is clean. Declarations a macro or a metaprogram
  makes (a user command expanding to a theorem, `addDecl` in `run_cmd`) are not reported;
  an `example` adds no constant, so an axiom it uses goes unseen; unnamed instances and
  `unsafe`/`partial` definitions are not audited (a theorem that uses one still counts its
  axioms).
- `Environment.replay` skips `unsafe` and `partial` constants and has no compiled code for
  `native_decide`'s `Lean.ofReduceBool`: theorems that use them may fail to load in the audit,
  and are then rejected even when `allow_native_decide` is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prover.envs.base import EnvError, VerifyResult
from prover.envs.lean_names import Name, display, is_identifier, same_constant, split_name

STANDARD_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
NATIVE_DECIDE_AXIOMS = ("Lean.ofReduceBool", "Lean.trustCompiler")
SORRY_AXIOM = "sorryAx"
_NO_AXIOMS = "' does not depend on any axioms"
_DEPENDS = "' depends on axioms: ["


# --- allowed axioms ------------------------------------------------------------------------


def allowed_axioms(extra: Sequence[str], *, allow_native_decide: bool) -> frozenset[Name]:
    """The axioms a proof may use: the standard three, `extra` (validated: EnvError on a name
    that is not a Lean identifier, on `sorryAx`, and on the native_decide axioms without
    `allow_native_decide`), and the native_decide axioms when allowed."""
    names = {split_name(a) or (a,) for a in STANDARD_AXIOMS}
    native = {split_name(a) or (a,) for a in NATIVE_DECIDE_AXIOMS}
    for given in extra:
        names.add(_allowed_name(given, native, allow_native_decide))
    return frozenset(names | native if allow_native_decide else names)


def _allowed_name(given: str, native: set[Name], allow_native_decide: bool) -> Name:
    if not isinstance(given, str) or not is_identifier(given):
        raise EnvError(
            f"allowed axiom {given!r} is not a Lean identifier "
            "(dotted components such as `Classical.choice`, `«odd name»` for others)"
        )
    name = split_name(given) or (given,)
    if name == (SORRY_AXIOM,):
        raise EnvError("sorryAx cannot be allowed: a proof that uses it has a sorry in it")
    if name in native and not allow_native_decide:
        raise EnvError(
            f"{given} is native_decide's axiom: set allow_native_decide instead of allowing it"
        )
    return name


# --- the check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why the checked text is not a clean elaboration: an error or a sorry, with its line."""

    line: int  # 1-based; 0 when Lean gave no position
    text: str
    is_sorry: bool


def elaboration_problems(resp: dict[str, Any]) -> list[Problem]:
    """Errors and sorries in the REPL's answer to the check command (none: it succeeded)."""
    if not isinstance(resp.get("env"), int):
        why = resp.get("message", json.dumps(resp, ensure_ascii=False))
        return [Problem(0, f"the REPL did not check the file: {why}", False)]
    problems = []
    for m in resp.get("messages", []):
        line = m.get("pos", {}).get("line", 0)
        if m.get("severity") == "error":
            problems.append(Problem(line, m.get("data", ""), False))
        elif "declaration uses 'sorry'" in m.get("data", ""):
            problems.append(Problem(line, "declaration uses 'sorry'", True))
    for s in resp.get("sorries", []):
        problems.append(Problem(s.get("pos", {}).get("line", 0), "sorry", True))
    return sorted(problems, key=lambda p: p.line)


def rejection(problems: Sequence[Problem], first_line: int, last_line: int) -> str:
    """The reason a theorem spanning `first_line..last_line` is rejected for `problems`."""
    own = [p for p in problems if first_line <= p.line <= last_line]
    errors = [p.text for p in own if not p.is_sorry]
    if errors:
        return f"Lean rejected the proof: {'; '.join(errors)}"
    if own:
        return "the proof uses sorry"
    first = problems[0]
    if not first.line:  # the REPL's own failure (no check, no pickle, a timeout): say it as is
        return first.text
    kind = "a sorry" if first.is_sorry else "an error"
    return f"the file does not check: {kind} outside the theorem (line {first.line}: {first.text})"


# --- the audit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Audited:
    """The audit's answer for one theorem: its axioms as printed, or why there is none."""

    axioms: tuple[str, ...] = ()
    problem: str = ""  # non-empty: no usable answer, and the theorem is rejected with it


def read_axioms_answer(resp: dict[str, Any], expected: Name, *, is_private: bool) -> Audited:
    """The axioms of `expected` from the REPL's answer to our `#print axioms` command."""
    who = display(expected)
    if "message" in resp or not isinstance(resp.get("env"), int):
        return Audited(problem=f"the audit failed for {who}: {resp.get('message', resp)}")
    messages = resp.get("messages", [])
    errors = [m.get("data", "") for m in messages if m.get("severity") == "error"]
    if errors:
        return Audited(problem=f"the audit failed for {who}: {'; '.join(errors)}")
    infos = [m.get("data", "") for m in messages if m.get("severity") == "info"]
    if not infos:
        return Audited(problem=f"no `#print axioms` answer for {who}")
    if len(infos) > 1:
        return Audited(problem=f"ambiguous `#print axioms` answer for {who}: {infos!r}")
    parsed = parse_axioms_answer(infos[0])
    if parsed is None:
        return Audited(problem=f"unrecognised `#print axioms` answer for {who}: {infos[0]!r}")
    name, axioms = parsed
    if not same_constant(name, expected, is_private=is_private):
        return Audited(problem=f"the `#print axioms` answer is about {display(name)}, not {who}")
    return Audited(axioms=tuple(display(a) for a in axioms))


def parse_axioms_answer(data: str) -> tuple[Name, tuple[Name, ...]] | None:
    """(constant, axioms) from `'c' depends on axioms: [a, b]` or `'c' does not depend on any
    axioms`; None unless the text reads exactly one way."""
    if not data.startswith("'"):
        return None
    if data.endswith(_NO_AXIOMS):
        name = split_name(data[1 : -len(_NO_AXIOMS)])
        return (name, ()) if name else None
    readings = []
    at = data.find(_DEPENDS)
    while at >= 0:
        name = split_name(data[1:at])
        axioms = _name_list(data[at + len(_DEPENDS) :])
        if name and axioms:
            readings.append((name, axioms))
        at = data.find(_DEPENDS, at + 1)
    return readings[0] if len(readings) == 1 else None


def _name_list(rest: str) -> tuple[Name, ...] | None:
    """The names of `a, b,\\n c]` (Lean may break a long list over lines), or None."""
    if not rest.endswith("]"):
        return None
    items, depth, start = [], 0, 0
    body = rest[:-1]
    for i, c in enumerate(body):
        depth += (c == "«") - (c == "»")
        if c == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    names = [split_name(item.strip()) for item in items]
    return tuple(n for n in names if n) if all(names) else None


def judge(audited: Audited, allowed: frozenset[Name], elapsed: float) -> VerifyResult:
    """Accept exactly when the audit answered and every axiom is allowed."""
    if audited.problem:
        return VerifyResult(False, audited.problem, time_s=elapsed)
    bad = [a for a in audited.axioms if (split_name(a) or (a,)) not in allowed]
    if not bad:
        return VerifyResult(True, "", audited.axioms, elapsed)
    why = "; ".join(dict.fromkeys(_why_not(a) for a in bad))
    reason = f"uses axiom(s) {', '.join(bad)}: {why}"
    # sorryAx and native_decide's axioms are never accepted through an allowed-axiom list
    allowable = all(a != SORRY_AXIOM and a not in NATIVE_DECIDE_AXIOMS for a in bad)
    return VerifyResult(False, reason, audited.axioms, elapsed, only_axioms=allowable)


def _why_not(axiom: str) -> str:
    if axiom == SORRY_AXIOM:
        return "sorryAx is a sorry, never allowed"
    if axiom in NATIVE_DECIDE_AXIOMS:
        return "native_decide is off (LeanConfig.allow_native_decide)"
    return "not allowed (use --allow-axiom NAME)"
