"""Lean 4 tactic programs: the same Stitch mining over Lean proofs, rendered as `macro`s.

    corpus = lean_corpus(Path("../shared/data/lean_states/steps.jsonl"))
    text, entries = render_library(mine(corpus, iterations=20))   # TacticLib.lean, library.json

Lean proofs come as LeanDojo steps (`theorem`, `step`, `state_before`, `tactic`,
`state_after`; one proof per (`model_run`, `theorem`)) whose steps chain to "no goals", read
into trees by `envs.lean_tactic` (a step it does not read skips its proof, counted). Local
names (the hypotheses and variables of the states, `h₀`, `x`, ...) are canonicalised as for
Coq, so mined programs take them as parameters.

A program becomes `macro "st_<hash>" x0:term:max ... : tactic => `(tactic| body)`, its
parameters spliced as `$x0:term`; the name is the hash of the body, as in the Coq library.
Programs that take a tactic, or whose parameter stands where a name is bound (after `with`,
`intro`, `obtain`, ...), are refused: a `term` parameter cannot be either.

Lean is not installed on the machines that build libraries here, so no Lean program is
verified here: each is kept with `verified: false` and that reason. Where Lean exists,
`lake build` in `lean_project/` compiles `Springtail/TacticLib.lean`. No Springtail policy
offers these macros yet, and the Lean backend does not load the library.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prover.data import DataFormatError
from prover.envs.coq_ltac import Atom, Seq, Tactic, Wrap, canonicalise
from prover.envs.lean_tactic import (
    FOOTER,
    HEADER,
    LeanParseError,
    lean_library_problems,
    local_names,
    parse_lean_tactic,
    print_lean,
)
from prover.introspect.corpus import Corpus, Proof
from prover.introspect.mine import Program, program_tree

# Words after which an argument is a name being bound (a `term` parameter cannot be one).
_BINDERS = frozenset(
    "with intro intros obtain rintro rcases cases' induction' set generalize case use".split()
)
_FIELDS = ("theorem", "state_before", "tactic", "state_after")


def lean_corpus(path: Path) -> Corpus:
    """The proofs of a LeanDojo steps file whose steps chain to "no goals" and all parse."""
    by_proof: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read the Lean steps ({e})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(f"{path}:{n}: not JSON ({e})") from None
        if not isinstance(row, dict) or not all(isinstance(row.get(f), str) for f in _FIELDS):
            raise DataFormatError(
                f"{path}:{n}: not a LeanDojo step (needs string fields {', '.join(_FIELDS)})"
            )
        by_proof[(str(row.get("model_run", "")), row["theorem"])].append(row)
    corpus = Corpus(skipped=Counter())
    for (run, theorem), rows in sorted(by_proof.items()):
        rows.sort(key=lambda r: r["step"] if isinstance(r.get("step"), int) else 0)
        chained = all(
            a["state_after"] == b["state_before"] for a, b in zip(rows, rows[1:], strict=False)
        )
        if not chained or rows[-1]["state_after"] != "no goals":
            corpus.skipped["steps do not chain into a whole proof"] += 1
            continue
        local = set().union(*(local_names(r["state_before"]) for r in rows))
        try:
            trees = [parse_lean_tactic(r["tactic"], local) for r in rows]
        except LeanParseError as e:
            corpus.skipped[f"unread Lean tactic ({str(e)[:40]})"] += 1
            continue
        canon, names = canonicalise(trees, local)
        sentences = tuple(r["tactic"] for r in rows)
        full = f"{run}/{theorem}" if run else theorem
        file = Path(rows[0].get("file_path", ""))
        corpus.proofs.append(Proof(theorem, full, file, sentences, tuple(canon), names))
    return corpus


def macro(program: Program) -> str:
    """The program as one Lean `macro` line (raises `LeanParseError` if it cannot be one)."""
    if "tactic" in program.param_kinds:
        raise LeanParseError("it takes a tactic (a Lean macro here takes terms only)")
    tree = program_tree(program)
    if _binds_a_parameter(tree, set(program.params)):
        raise LeanParseError("a parameter stands where a name is bound (not a term)")
    body = print_lean(tree, {x: f"${x}:term" for x in program.params})
    params = "".join(f" {x}:term:max" for x in program.params)
    return f'macro "{program.name}"{params} : tactic => `(tactic| {body})'


def _binds_a_parameter(tree: Tactic, params: set[str]) -> bool:
    if isinstance(tree, Seq):
        return _binds_a_parameter(tree.first, params) or _binds_a_parameter(tree.rest, params)
    if isinstance(tree, Wrap):
        return _binds_a_parameter(tree.body, params)
    if isinstance(tree, Atom):
        words = [t.text for t in tree.tokens]
        first = next((k for k, w in enumerate(words) if w in _BINDERS), len(words))
        return any(w in params for w in words[first:])
    return True


def render_library(programs: Sequence[Program]) -> tuple[str, list[dict[str, Any]]]:
    """The text of `TacticLib.lean` and one `library.json` entry per mined program."""
    lines, entries = [], []
    for p in programs:
        reason, line = p.refused, ""
        if not reason:
            try:
                line = macro(p)
            except LeanParseError as e:
                reason = str(e)
        problems = lean_library_problems(line) if line else []
        if problems:
            reason, line = "its text fails the library check: " + problems[0], ""
        if line:
            lines.append(line)
            reason = "not checked: Lean is not installed here (run `lake build` in lean_project/)"
        entries.append(
            {
                "name": p.name,
                "macro": line,
                "params": list(p.params),
                "arity": p.arity,
                "verified": False,
                "reason": reason,
                "uses": len(p.uses),
                "compression": round(p.compression, 4),
            }
        )
    return HEADER + "".join(f"{line}\n" for line in lines) + FOOTER, entries


def is_generated(text: str) -> bool:
    """Whether `text` is a Lean library this module wrote (safe to overwrite)."""
    return text.startswith(HEADER) and text.endswith(FOOTER) and not lean_library_problems(text)
