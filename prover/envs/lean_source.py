"""Lean 4 source text: header, declarations with their kernel names, a theorem's statement.

A file is split into its header (the leading `import` lines, which must run in a fresh REPL
environment) and its body. Comments, strings and character literals are blanked first
(`mask`; a `«quoted»` name is skipped whole, so `«a -- b»` hides nothing), so nothing inside
them counts. Lean does not care about line breaks between commands, and neither does this
parse: a declaration keyword (`theorem`, `lemma`, `example`, `def`, `instance`, ..., with its
attributes and modifiers) or a scope command (`namespace`, `section`, `end`, `mutual`) counts
wherever it stands as a word of its own outside brackets (so not inside `@[instance]`,
`attribute [instance]` or a syntax quotation), and not after `deriving`. A declaration runs to
the next such command.

Kernel names: `namespace A.B` / `section S` / `mutual` open scopes that `end [A.B|S]` closes;
a declaration `bar` inside namespaces `A.B` is the constant `A.B.bar`, one written
`_root_.bar` is `bar`; `private` and `protected` do not change the name (Lean adds the private
prefix itself, see `lean_names.same_constant`); `open` does not either. This parse only says
*which* constant to ask Lean about: whether it is proved is decided by Lean (lean_audit.py).
Where the parse cannot be sure of a name, the declaration carries a `doubt` (and is rejected,
never audited): two declarations with one full name, an `end` that does not match the scopes
the parse sees open (from there on), brackets that do not balance (the whole file), a name
it cannot read.

A theorem's statement is its text up to the first `:=` at bracket depth 0; the proof is what
follows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from prover.envs.lean_names import Name, display, is_identifier, split_name

_NAME = r"(?:«[^»]*»|[^\s.:({\[«»]+)(?:\.(?:«[^»]*»|[^\s.:({\[«»]+))*"
# A keyword is a word of its own: not part of an identifier (`h.end`, `irreducible_def`).
_WORD_START, _WORD_END = r"(?<![\w.'!?])", r"(?![\w'!?])"
_DECL_RE = re.compile(
    rf"{_WORD_START}(?:@\[[^\]]*\]\s*)?"
    r"(?P<mods>(?:(?:private|protected|noncomputable|nonrec|partial|unsafe|public|scoped|local)"
    r"\s+)*)"
    r"(?P<kw>theorem|lemma|example|def|abbrev|instance|structure|inductive|"
    rf"class(?:\s+(?:inductive|abbrev))?|axiom|opaque){_WORD_END}"
)
_SCOPE_RE = re.compile(rf"{_WORD_START}(?P<kw>namespace|section|end|mutual){_WORD_END}")
_NAME_AFTER = re.compile(rf"\s*(?P<name>{_NAME})")  # a declaration's or namespace's name
_NAME_SAME_LINE = re.compile(rf"[ \t]*(?P<name>{_NAME})")  # `section`'s and `end`'s optional one
_PRIORITY = re.compile(r"\s*\(\s*priority\s*:=[^()]*\)")  # `instance (priority := low) foo`
_DERIVING_BEFORE = re.compile(r"(?<![\w.'!?])deriving\s*$")
_CHAR_LITERAL = re.compile(r"'(?:\\[^'\n]{1,10}|[^\\'\n])'")
_RAW_STRING = re.compile(r'r(#*)"')
_QUOTED_NAME = re.compile(r"«[^»]*»")
_OPENERS, _CLOSERS = "([{⟨", ")]}⟩"
THEOREM_KEYWORDS = ("theorem", "lemma")
# Declarations audited besides theorems: a named one of these kinds adds a constant whose value
# a proof may unfold. `unsafe`/`partial` ones are skipped: the kernel never unfolds them, and
# the audit's replay leaves them out.
DEFINITION_KEYWORDS = ("def", "abbrev", "instance", "opaque")
NAMELESS_KEYWORDS = ("example", "instance")
AMBIGUOUS = "Springtail's parse of the file is ambiguous here"
# Words that start or modify commands: never the name after `end`/`section`/`namespace`.
_KEYWORDS = frozenset(
    "theorem lemma example def abbrev instance structure inductive class axiom opaque namespace "
    "section end mutual open variable universe set_option attribute private protected "
    "noncomputable nonrec partial unsafe public scoped local".split()
)


@dataclass(frozen=True)
class LeanDecl:
    keyword: str
    name: str  # as written after the keyword
    start: int
    end: int
    line: int  # 1-based line of `start`
    last_line: int  # 1-based line of the declaration's last non-blank character
    full_name: Name  # the kernel name (namespaces applied)
    modifiers: tuple[str, ...]  # `private`, `noncomputable`, ... as written
    doubt: str = ""  # non-empty: the parse is unsure of this name, and this says why

    @property
    def display(self) -> str:
        return display(self.full_name)

    @property
    def is_private(self) -> bool:
        return "private" in self.modifiers

    @property
    def is_theorem(self) -> bool:
        return self.keyword in THEOREM_KEYWORDS

    @property
    def is_audited(self) -> bool:
        """Whether `check` audits it: a theorem, or a named def/abbrev/instance/opaque that
        the kernel can unfold (not `unsafe`, not `partial`)."""
        if self.is_theorem:
            return True
        unfoldable = not {"unsafe", "partial"} & set(self.modifiers)
        return self.keyword in DEFINITION_KEYWORDS and bool(self.name) and unfoldable


@dataclass(frozen=True)
class LeanFile:
    text: str
    header: str  # the import lines
    body_start: int
    decls: tuple[LeanDecl, ...]

    @property
    def theorems(self) -> list[LeanDecl]:
        return [d for d in self.decls if d.is_theorem]

    @property
    def audited(self) -> list[LeanDecl]:
        """The declarations `check` audits, in source order (`LeanDecl.is_audited`)."""
        return [d for d in self.decls if d.is_audited]

    def find(self, name: str) -> LeanDecl | None:
        """The theorem `name` denotes: its full name, else the unique theorem whose full name
        ends with `name` (e.g. `bar` for `Foo.bar`); None if there is none or several."""
        wanted = split_name(name) or (name,)
        for hits in (
            [d for d in self.theorems if d.full_name == wanted],
            [d for d in self.theorems if d.full_name[-len(wanted) :] == wanted],
        ):
            if hits:
                return hits[0] if len(hits) == 1 else None
        return None


# --- masking -------------------------------------------------------------------------------


def mask(text: str) -> str:
    """`text` with comments, strings and character literals blanked (`«quoted»` names kept
    as they are); newlines and offsets are kept, so positions in the result are positions in
    `text`."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text[i] == "«":  # a quoted name: nothing inside starts a comment or a string
            close = text.find("»", i + 1)
            i = n if close < 0 else close + 1
            continue
        j = _skip_end(text, i)
        if j == i:
            i += 1
            continue
        for k in range(i, j):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


def _skip_end(text: str, i: int) -> int:
    """End of the comment/string/char literal starting at `i`, or `i` if none starts there."""
    if text.startswith("--", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j
    if text.startswith("/-", i):
        return _block_comment_end(text, i)
    if text[i] == '"':
        return _string_end(text, i + 1)
    after_ident = i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_'!?.")
    if text[i] == "'" and not after_ident:
        m = _CHAR_LITERAL.match(text, i)
        return m.end() if m else i
    if text[i] == "r" and not after_ident:
        m = _RAW_STRING.match(text, i)
        if m:
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            return len(text) if j < 0 else j + len(close)
    return i


def _block_comment_end(text: str, i: int) -> int:
    depth, j, n = 0, i, len(text)
    while j < n:
        if text.startswith("/-", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("-/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def _string_end(text: str, j: int) -> int:
    n = len(text)
    while j < n and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, n)


# --- parsing -------------------------------------------------------------------------------


def parse_lean(text: str) -> LeanFile:
    masked = mask(text)
    body_start = _header_end(masked)
    header = "".join(
        raw
        for raw, m in zip(
            text[:body_start].splitlines(keepends=True),
            masked[:body_start].splitlines(keepends=True),
            strict=True,
        )
        if m.strip().startswith("import ")
    )
    # Keywords are looked for with quoted names blanked too; names are read from `masked`.
    scan = _QUOTED_NAME.sub(lambda m: " " * len(m.group()), masked)
    depth, balanced = _bracket_depths(scan)
    events = sorted(
        [m for m in _DECL_RE.finditer(scan, body_start) if _is_command(m, scan, depth)]
        + [m for m in _SCOPE_RE.finditer(scan, body_start) if _is_command(m, scan, depth)],
        key=lambda m: m.start(),
    )
    decls = _declarations(text, masked, events)
    if not balanced:
        why = (
            f"{AMBIGUOUS}: the file's brackets do not balance outside comments and strings, "
            "so Springtail cannot tell where its declarations are"
        )
        decls = [replace(d, doubt=d.doubt or why) for d in decls]
    return LeanFile(text, header, body_start, tuple(_mark_duplicates(decls)))


def _header_end(masked: str) -> int:
    offset = 0
    for line in masked.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith("import "):
            break
        offset += len(line)
    return offset


def _bracket_depths(scan: str) -> tuple[list[int], bool]:
    """The bracket depth before each offset of `scan`, and whether the brackets balance."""
    depths, depth, balanced = [], 0, True
    for c in scan:
        depths.append(depth)
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            balanced = balanced and depth > 0
            depth = max(0, depth - 1)
    return depths, balanced and depth == 0


def _is_command(m: re.Match[str], scan: str, depth: list[int]) -> bool:
    """Whether a keyword match starts a command: outside brackets, and not `deriving instance`."""
    if depth[m.start()]:
        return False
    return not (
        m["kw"] == "instance" and _DERIVING_BEFORE.search(scan, max(0, m.start() - 80), m.start())
    )


def _declarations(text: str, masked: str, events: list[re.Match[str]]) -> list[LeanDecl]:
    scopes = _Scopes()
    decls = []
    for i, m in enumerate(events):
        line = text.count("\n", 0, m.start()) + 1
        if m.re is _SCOPE_RE:
            scopes.update(m["kw"], _scope_name(m, masked), line)
            continue
        end = events[i + 1].start() if i + 1 < len(events) else len(text)
        written = _decl_name(m, masked)
        decl = LeanDecl(
            keyword=m["kw"].split()[0],  # `class inductive` and `class abbrev` are classes
            name=written,
            start=m.start(),
            end=end,
            line=line,
            last_line=line + text[m.start() : end].rstrip().count("\n"),
            full_name=scopes.kernel_name(written),
            modifiers=tuple(m["mods"].split()),
            doubt=scopes.doubt,
        )
        if not decl.full_name and m["kw"] not in NAMELESS_KEYWORDS and not decl.doubt:
            decl = replace(decl, doubt=f"{AMBIGUOUS}: cannot read the name after `{m['kw']}`")
        decls.append(decl)
    return decls


def _decl_name(m: re.Match[str], masked: str) -> str:
    if m["kw"] == "example":
        return ""
    at = m.end()
    if m["kw"] == "instance":
        priority = _PRIORITY.match(masked, at)
        at = priority.end() if priority else at
    name = _NAME_AFTER.match(masked, at)
    return name["name"] if name else ""


def _scope_name(m: re.Match[str], masked: str) -> str | None:
    """The name after `namespace` (which needs one), `section` or `end` (on the same line);
    None when there is none."""
    if m["kw"] == "mutual":
        return None
    name = (_NAME_AFTER if m["kw"] == "namespace" else _NAME_SAME_LINE).match(masked, m.end())
    if not name or not is_identifier(name["name"]) or name["name"] in _KEYWORDS:
        return None  # `end theorem foo ...`: Lean reads a bare `end`, then a theorem
    return name["name"]


@dataclass
class _Scopes:
    """The open namespaces, sections and mutual blocks, one entry per name component."""

    entries: list[tuple[str, str]] = field(default_factory=list)  # (kind, component)
    doubt: str = ""  # set once a scope command does not fit: every later name is in doubt

    def update(self, kind: str, written: str | None, line: int) -> None:
        parts = split_name(written) if written else None
        if kind == "namespace":
            if not parts:
                self._lose(f"cannot read the namespace opened at line {line}")
            self.entries += [("namespace", c) for c in parts or ()]
        elif kind == "section":
            self.entries += [("section", c) for c in parts or ("",)]
        elif kind == "mutual":
            self.entries.append(("mutual", ""))
        else:
            self._end(parts, written, line)

    def _end(self, parts: Name | None, written: str | None, line: int) -> None:
        closing = list(parts) if parts else [""]  # a bare `end` closes an unnamed scope
        open_now = [c for _, c in self.entries[-len(closing) :]]
        if len(self.entries) < len(closing) or open_now != closing:
            shown = f"end {written}" if written else "end"
            self._lose(f"`{shown}` at line {line} does not close the scope open there")
        del self.entries[max(0, len(self.entries) - len(closing)) :]

    def _lose(self, why: str) -> None:
        self.doubt = self.doubt or (
            f"{AMBIGUOUS}: {why}, so Springtail cannot tell the names declared after it"
        )

    def kernel_name(self, written: str) -> Name:
        name = split_name(written) if written else None
        if not name:
            return ()
        if name[0] == "_root_":
            return name[1:]
        return tuple(c for kind, c in self.entries if kind == "namespace") + name


def _mark_duplicates(decls: list[LeanDecl]) -> list[LeanDecl]:
    """Declarations sharing a full name all get a doubt: Lean refuses a file that declares a
    name twice, so either its check fails anyway or the parse misread it; and one audit of a
    name cannot speak for two declarations."""
    lines: dict[Name, list[int]] = {}
    for d in decls:
        if d.full_name:
            lines.setdefault(d.full_name, []).append(d.line)
    out = []
    for d in decls:
        seen = lines.get(d.full_name, [])
        if len(seen) > 1 and not d.doubt:
            where = ", ".join(str(n) for n in seen)
            d = replace(
                d, doubt=f"{AMBIGUOUS}: {d.display} is declared more than once (lines {where})"
            )
        out.append(d)
    return out


# --- commands ------------------------------------------------------------------------------


def statement_end(decl_text: str) -> int:
    """Offset of the `:=` that starts the proof (depth 0, outside comments/strings), or -1."""
    masked = _QUOTED_NAME.sub(lambda m: " " * len(m.group()), mask(decl_text))
    depth = 0
    for i, c in enumerate(masked):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        elif depth == 0 and masked.startswith(":=", i):
            return i
    return -1


def _statement(file: LeanFile, decl: LeanDecl) -> str:
    decl_text = file.text[decl.start : decl.end]
    cut = statement_end(decl_text)
    if cut < 0:
        raise ValueError(f"cannot find ':=' ending the statement of {decl.display}")
    return decl_text[:cut].rstrip()


def sorry_command(file: LeanFile, decl: LeanDecl) -> str:
    """The body of the file up to `decl`, then `decl`'s statement with its proof replaced by
    `by sorry`: run in the header's environment, it yields the theorem's first proof state."""
    prefix = file.text[file.body_start : decl.start]
    return f"{prefix}{_statement(file, decl)} := by\n  sorry\n"


def format_lean_proof(tactics: Sequence[str]) -> str:
    """`:= by` and the tactics, one per line, indented: what follows a statement."""
    body = "\n".join("  " + line for tac in tactics for line in tac.splitlines())
    return f":= by\n{body}"


def proof_command(file: LeanFile, decl: LeanDecl, tactics: list[str]) -> str:
    """The file from its first line through `decl`, with `decl` proved by `tactics`. What
    follows `decl` is left out: it cannot be part of the proof, and may hold other theorems
    still to be proved (with `sorry`)."""
    return f"{file.text[: decl.start]}{_statement(file, decl)} {format_lean_proof(tactics)}\n"
