"""Lean 4 source text: header, declarations with their kernel names, a theorem's statement.

A file is split into its header (the leading `import` lines, which must run in a fresh REPL
environment) and its body. Comments, strings and character literals are blanked first
(`mask`), so nothing inside them counts. A declaration starts at a line that begins with
optional attributes/modifiers and `theorem`, `lemma`, `example`, `def`, `instance`, ...; it
runs to the next declaration or scope command (`namespace`, `section`, `end`, `mutual`).

Kernel names: `namespace A.B` / `section S` / `mutual` open scopes that `end [A.B|S]` closes;
a declaration `bar` inside namespaces `A.B` is the constant `A.B.bar`, one written
`_root_.bar` is `bar`; `private` and `protected` do not change the name (Lean adds the private
prefix itself, see `lean_names.same_constant`); `open` does not either. This parse only says
*which* constant to ask Lean about: whether it is proved is decided by Lean (lean_audit.py),
and a name we get wrong is an unknown constant there, hence a rejection.

A theorem's statement is its text up to the first `:=` at bracket depth 0; the proof is what
follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prover.envs.lean_names import Name, display, split_name

_NAME = r"(?:«[^»\n]*»|[^\s.:({\[«»]+)(?:\.(?:«[^»\n]*»|[^\s.:({\[«»]+))*"
_DECL_RE = re.compile(
    r"^[ \t]*(?:@\[[^\]]*\]\s*)?"
    r"(?P<mods>(?:(?:private|protected|noncomputable|nonrec|partial|unsafe|public)\s+)*)"
    r"(?P<kw>theorem|lemma|example|def|abbrev|instance|structure|inductive|class|axiom|opaque)\b"
    rf"[ \t]*(?P<name>{_NAME})?",
    re.M,
)
_SCOPE_RE = re.compile(
    rf"^[ \t]*(?:(?P<namespace>namespace)[ \t]+(?P<ns_name>{_NAME})"
    rf"|(?:(?:noncomputable|public)[ \t]+)*(?P<section>section)\b(?:[ \t]+(?P<sec_name>{_NAME}))?"
    rf"|(?P<end>end)\b(?:[ \t]+(?P<end_name>{_NAME}))?"
    r"|(?P<mutual>mutual)\b)",
    re.M,
)
_CHAR_LITERAL = re.compile(r"'(?:\\[^'\n]{1,10}|[^\\'\n])'")
_RAW_STRING = re.compile(r'r(#*)"')
_QUOTED_NAME = re.compile(r"«[^»\n]*»")
_OPENERS, _CLOSERS = "([{⟨", ")]}⟩"
THEOREM_KEYWORDS = ("theorem", "lemma")


@dataclass(frozen=True)
class LeanDecl:
    keyword: str
    name: str  # as written after the keyword
    start: int
    end: int
    line: int  # 1-based line of `start`
    last_line: int  # 1-based line of the declaration's last non-blank character
    full_name: Name  # the kernel name (namespaces applied)
    is_private: bool

    @property
    def display(self) -> str:
        return display(self.full_name)


@dataclass(frozen=True)
class LeanFile:
    text: str
    header: str  # the import lines
    body_start: int
    decls: tuple[LeanDecl, ...]

    @property
    def theorems(self) -> list[LeanDecl]:
        return [d for d in self.decls if d.keyword in THEOREM_KEYWORDS]

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
    """`text` with comments, strings and character literals blanked; newlines and offsets
    are kept, so positions in the result are positions in `text`."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
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
    events = sorted(
        [m for m in _DECL_RE.finditer(masked) if m.start() >= body_start]
        + [m for m in _SCOPE_RE.finditer(masked) if m.start() >= body_start],
        key=lambda m: m.start(),
    )
    return LeanFile(text, header, body_start, _declarations(text, events))


def _header_end(masked: str) -> int:
    offset = 0
    for line in masked.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith("import "):
            break
        offset += len(line)
    return offset


def _declarations(text: str, events: list[re.Match[str]]) -> tuple[LeanDecl, ...]:
    scopes: list[tuple[str, str]] = []  # (kind, component), one entry per name component
    decls = []
    for i, m in enumerate(events):
        if m.re is not _DECL_RE:
            _update_scopes(scopes, m)
            continue
        end = events[i + 1].start() if i + 1 < len(events) else len(text)
        written = m["name"] or ""
        line = text.count("\n", 0, m.start()) + 1
        decls.append(
            LeanDecl(
                keyword=m["kw"],
                name=written,
                start=m.start(),
                end=end,
                line=line,
                last_line=line + text[m.start() : end].rstrip().count("\n"),
                full_name=_kernel_name(scopes, written),
                is_private="private" in m["mods"].split(),
            )
        )
    return tuple(decls)


def _update_scopes(scopes: list[tuple[str, str]], m: re.Match[str]) -> None:
    if m["namespace"]:
        scopes += [("namespace", c) for c in split_name(m["ns_name"]) or ()]
    elif m["section"]:
        names = split_name(m["sec_name"]) if m["sec_name"] else None
        scopes += [("section", c) for c in names or ("",)]
    elif m["mutual"]:
        scopes.append(("mutual", ""))
    elif m["end"]:
        count = len(split_name(m["end_name"]) or ()) if m["end_name"] else 1
        del scopes[max(0, len(scopes) - count) :]


def _kernel_name(scopes: list[tuple[str, str]], written: str) -> Name:
    name = split_name(written) if written else None
    if not name:
        return ()
    if name[0] == "_root_":
        return name[1:]
    return tuple(c for kind, c in scopes if kind == "namespace") + name


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


def proof_command(file: LeanFile, decl: LeanDecl, tactics: list[str]) -> str:
    """The file from its first line through `decl`, with `decl` proved by `tactics`. What
    follows `decl` is left out: it cannot be part of the proof, and may hold other theorems
    still to be proved (with `sorry`)."""
    body = "\n".join("  " + line for tac in tactics for line in tac.splitlines())
    return f"{file.text[: decl.start]}{_statement(file, decl)} := by\n{body}\n"
