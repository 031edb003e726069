"""Coq's lexing primitives: comments (nested, with strings inside), string literals, blanks,
and the byte-order mark. The sentence splitter (`coq_source`) and the vetting of sources
(`coq_vetting`) both read text through these, so they agree with each other and with Coq.
"""

from __future__ import annotations

import re

BOM = "\ufeff"
BLANKS = frozenset(" \t\n\r")  # Coq's blanks: a no-break space or a form feed is not one
LEXEME_RE = re.compile(r'\(\*|"|\.')  # what can end, or hide, a sentence end
COMMENT_RE = re.compile(r'\(\*|\*\)|"')


class CoqSyntaxError(ValueError):
    """The text cannot be split into sentences (unclosed comment or string)."""


def source_text(raw: str) -> str:
    """A file's text as Coq reads it: without a leading byte-order mark."""
    return raw[1:] if raw.startswith(BOM) else raw


def strip_comments(text: str) -> str:
    """Remove nested comments, keeping strings intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        m = LEXEME_RE.search(text, i)
        if m is None:
            out.append(text[i:])
            break
        j = m.start()
        out.append(text[i:j])
        if m.group() == "(*":
            i = skip_comment(text, j)
            out.append(" ")
        elif m.group() == '"':
            i = skip_string(text, j)
            out.append(text[j:i])
        else:
            out.append(".")
            i = j + 1
    return "".join(out)


def skip_comment(text: str, i: int) -> int:
    """Offset just after the comment opening at `i` (comments nest; strings inside them are
    lexed, so `(* "*)" *)` is one comment)."""
    depth, start = 0, i
    while True:
        m = COMMENT_RE.search(text, i)
        if m is None:
            raise CoqSyntaxError(f"unterminated comment starting at offset {start}")
        tok, i = m.group(), m.end()
        if tok == "(*":
            depth += 1
        elif tok == "*)":
            depth -= 1
            if depth == 0:
                return i
        else:
            i = skip_string(text, m.start())


def skip_string(text: str, i: int) -> int:
    """Offset just after the string literal opening at `i`."""
    j = i + 1
    while True:
        k = text.find('"', j)
        if k < 0:
            raise CoqSyntaxError(f"unterminated string starting at offset {i}")
        if text.startswith('""', k):
            j = k + 2
            continue
        return k + 1


def skip_blank(text: str, i: int) -> int:
    """Offset of the first character at or after `i` that is not blank or in a comment."""
    n = len(text)
    while i < n:
        if text[i] in BLANKS:
            i += 1
        elif text.startswith("(*", i):
            i = skip_comment(text, i)
        else:
            break
    return i
