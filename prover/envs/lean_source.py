"""Lean 4 source text: header, declarations, and the statement of a theorem.

A file is split into its header (the leading `import` lines, which must run in a fresh REPL
environment) and its body. A declaration starts at a line that begins (column 0) with an
optional attribute/modifier and `theorem`, `lemma`, `example`, `def`, `instance`, ...; it
runs to the next such line. A theorem's statement is its text up to the first `:=` at
bracket depth 0 (outside comments and strings); the proof is what follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DECL_RE = re.compile(
    r"^(?:@\[[^\]]*\]\s*)?(?:(?:private|protected|noncomputable|nonrec|partial|unsafe)\s+)*"
    r"(?P<kw>theorem|lemma|example|def|abbrev|instance|structure|inductive|class|axiom|opaque)\b"
    r"\s*(?P<name>[^\s:({\[]*)",
    re.M,
)
_OPENERS, _CLOSERS = "([{⟨", ")]}⟩"


@dataclass(frozen=True)
class LeanDecl:
    keyword: str
    name: str
    start: int
    end: int
    line: int


@dataclass(frozen=True)
class LeanFile:
    text: str
    header: str  # the import lines
    body_start: int
    decls: tuple[LeanDecl, ...]

    def find(self, name: str) -> LeanDecl | None:
        for d in self.decls:
            if d.keyword in ("theorem", "lemma") and d.name in (name, name.split(".")[-1]):
                return d
        return None


def parse_lean(text: str) -> LeanFile:
    lines = text.splitlines(keepends=True)
    offset = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("import ") or not stripped or stripped.startswith("--"):
            offset += len(line)
            continue
        break
    header = "".join(
        ln for ln in text[:offset].splitlines(keepends=True) if ln.strip().startswith("import ")
    )
    starts = [m for m in _DECL_RE.finditer(text) if m.start() >= offset]
    decls = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        decls.append(
            LeanDecl(m["kw"], m["name"], m.start(), end, text.count("\n", 0, m.start()) + 1)
        )
    return LeanFile(text, header, offset, tuple(decls))


def statement_end(decl_text: str) -> int:
    """Offset of the `:=` that starts the proof (depth 0, outside comments/strings), or -1."""
    depth, i, n = 0, 0, len(decl_text)
    while i < n:
        if decl_text.startswith("/-", i):
            j = decl_text.find("-/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if decl_text.startswith("--", i):
            j = decl_text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        c = decl_text[i]
        if c == '"':
            j = i + 1
            while j < n and decl_text[j] != '"':
                j += 2 if decl_text[j] == "\\" else 1
            i = j + 1
            continue
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        elif depth == 0 and decl_text.startswith(":=", i):
            return i
        i += 1
    return -1


def sorry_command(file: LeanFile, decl: LeanDecl) -> str:
    """The body of the file up to `decl`, then `decl`'s statement with its proof replaced by
    `by sorry`: run in the header's environment, it yields the theorem's first proof state."""
    decl_text = file.text[decl.start : decl.end]
    cut = statement_end(decl_text)
    if cut < 0:
        raise ValueError(f"cannot find ':=' ending the statement of {decl.name}")
    prefix = file.text[file.body_start : decl.start]
    return f"{prefix}{decl_text[:cut].rstrip()} := by\n  sorry\n"


def proof_command(file: LeanFile, decl: LeanDecl, tactics: list[str]) -> str:
    """The whole file with `decl` proved by `tactics`, then `#print axioms` for it."""
    decl_text = file.text[decl.start : decl.end]
    cut = statement_end(decl_text)
    body = "\n".join("  " + line for tac in tactics for line in tac.splitlines())
    prefix = file.text[: decl.start]
    return f"{prefix}{decl_text[:cut].rstrip()} := by\n{body}\n\n#print axioms {decl.name}\n"
