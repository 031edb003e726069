"""Coq source text: sentence splitting, the proofs a file states, and the single-tactic check.

Nothing here decides whether a theorem is proved: Coq does (`coq_verify`). This module finds
a theorem's statement and proof sentences for search, tracing and `prove`, and names the
modules, functors and sections around it. Its sentence boundaries are compared with Coq's own
(`coqc -time`) by a differential test (`tests/test_coq_sentences.py`).

Sentences follow Coq's lexer: a `.` followed by a blank (a space, tab, CR or LF, not a
no-break space) or the end of the text ends a sentence, outside nested comments `(* ... *)`
and strings `"..."` (`""` escapes a quote; strings inside comments are lexed too); `...`
also ends one (`Proof with` scripts); bullets (runs of `-`, `+` or `*`) and braces (`{`, `}`,
and selector braces such as `2:{`) at the start of a sentence are sentences of their own, as
Coq parses them. A leading byte-order mark is
not part of the text (Coq skips it too). Offsets are character offsets into the text.

Control prefixes (`Time`, `Redirect "f"`, `Timeout n`, `Fail`, `Succeed`) are looked through:
`Time Qed.` ends a proof and `Time End F.` closes `F`; `Fail`/`Succeed` commands leave no
trace in the document, so `Fail Qed.` does not end one.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from prover.envs.base import EnvError, TheoremNotFound, short_names
from prover.envs.coq_lex import (
    BLANKS,
    BOM,
    LEXEME_RE,
    CoqSyntaxError,
    skip_blank,
    skip_comment,
    skip_string,
    source_text,
    strip_comments,
)
from prover.envs.coq_project import LIBRARY_FILE, CoqFileContext, file_context
from prover.envs.coq_vetting import vet_sources

THEOREM_KEYWORDS = (
    "Theorem",
    "Lemma",
    "Fact",
    "Remark",
    "Corollary",
    "Proposition",
    "Property",
    "Example",
)
# These enter proof mode only when the sentence has no body (`:=`).
DEFINITION_KEYWORDS = ("Definition", "Instance", "Let", "Fixpoint", "CoFixpoint")

_IDENT = r"[A-Za-z_\u00C0-\uFFFF][\w'\u00C0-\uFFFF]*"
_QUALID = rf"{_IDENT}(?:\.{_IDENT})*"
_ATTRIBUTES = r"(?:#\[[^\]]*\]\s*)*"
_MODIFIERS = r"(?:(?:Local|Global|Polymorphic|Monomorphic|Program|Private|Cumulative)\s+)*"
_CONTROL_RE = re.compile(r'^(?:(?:Time|Redirect\s+"(?:[^"]|"")*"|Timeout\s+\d+)\s+)+')
_INERT_RE = re.compile(r"^(?:Fail|Succeed)\b")
_DECL_RE = re.compile(
    rf"^{_ATTRIBUTES}{_MODIFIERS}(?P<kw>{'|'.join(THEOREM_KEYWORDS + DEFINITION_KEYWORDS)})"
    rf"\s+(?P<name>{_IDENT})(?![\w'\u00C0-\uFFFF])"
)
_UNNAMED_PROOF_RE = re.compile(
    rf"^{_ATTRIBUTES}(?:Goal\b|Next\s+Obligation\b|Obligation\s+\d|"
    r"Add\s+(?:Parametric\s+)?Morphism\b)"
)
_ENDER_RE = re.compile(
    rf"^(?:(?P<kw>Qed|Defined|Admitted)|(?P<save>Save|Defined)\s+{_IDENT}"
    rf"|(?P<abort>Abort)(?:\s+All|\s+{_IDENT})?)\s*\.$"
)
_PROOF_TERM_RE = re.compile(r"^Proof\s+(?!using\b|with\b|\.$)\S")  # `Proof term.` closes at once
_SECTION_RE = re.compile(rf"^Section\s+(?P<name>{_IDENT})\s*\.$")
_MODULE_RE = re.compile(
    rf"^{_ATTRIBUTES}(?:(?:Local|Global)\s+)?Module\s+(?:(?:Import|Export)\s+)?"
    rf"(?P<type>Type\s+)?(?P<name>{_IDENT})"
)
_PARAMS_RE = re.compile(rf"\(\s*(?:(?:Import|Export)\s+)?((?:{_IDENT}\s*)+):")
_END_RE = re.compile(rf"^End\s+(?P<name>{_IDENT})\s*\.$")
_BULLET_RE = re.compile(r"(\-+|\++|\*+|\{|\}|(?:\d+|\[\s*[\w']+\s*\])\s*:\s*\{)")
_SELECTOR_BRACE_RE = re.compile(r"(?:\d+|\[\s*" + _IDENT + r"\s*\])\s*:\s*\{")


@dataclass(frozen=True)
class Sentence:
    text: str  # the sentence, comments included, ending in '.' unless a bullet or brace
    start: int
    end: int  # exclusive
    line: int  # 1-based line of `start`

    @functools.cached_property
    def code(self) -> str:
        """The sentence without comments, whitespace collapsed (for recognising commands;
        never pasted back: collapsing changes string literals)."""
        return " ".join(strip_comments(self.text).split())

    @functools.cached_property
    def command(self) -> str:
        """`code` with control prefixes (`Time`, `Redirect "f"`, `Timeout n`) removed."""
        return _CONTROL_RE.sub("", self.code)

    @property
    def is_inert(self) -> bool:
        """A `Fail`/`Succeed` command: it leaves the document as it was."""
        return _INERT_RE.match(self.command) is not None

    @property
    def is_bullet(self) -> bool:
        return _BULLET_RE.fullmatch(self.code) is not None


@dataclass(frozen=True)
class Scope:
    kind: str  # "Section", "Module" or "ModuleType"
    name: str
    params: tuple[str, ...] = ()  # functor parameter names
    index: int = -1  # sentence index of the header

    @property
    def is_functor(self) -> bool:
        return bool(self.params)


@dataclass(frozen=True)
class CoqTheorem:
    name: str  # "" for proofs without a name of their own (Goal, obligations, morphisms)
    keyword: str
    index: int  # index of the statement sentence
    proof: tuple[int, ...]  # indices of the proof sentences between statement and ender
    ender: str  # "Qed", "Defined", "Admitted", "Abort", "Save", "Proof" (`Proof term.`), ""
    end_index: int  # index of the ender sentence (== index when there is none)
    scopes: tuple[Scope, ...]  # open sections and modules, outermost first
    line: int

    @property
    def parameters(self) -> tuple[str, ...]:
        """Functor parameter names of the enclosing modules."""
        return tuple(p for s in self.scopes for p in s.params)

    @property
    def module_path(self) -> tuple[str, ...]:
        """Enclosing modules and module types, outermost first (sections add no name)."""
        return tuple(s.name for s in self.scopes if s.kind != "Section")

    @property
    def qualified_name(self) -> str:
        """The name inside its library, e.g. `NatList.app_assoc` (modules, not sections)."""
        return ".".join((*self.module_path, self.name))

    @property
    def has_proof(self) -> bool:
        return self.ender in ("Qed", "Defined", "Save", "Proof")


def _ends_sentence(text: str, i: int) -> int:
    """If a sentence ends with the '.' at `i`, return the offset after it, else -1."""
    n = len(text)
    if text.startswith("...", i):
        j = i + 3
        return j if j >= n or text[j] in BLANKS else -1
    if text.startswith("..", i):
        return -1
    if i > 0 and text[i - 1] == ".":
        return -1
    j = i + 1
    return j if j >= n or text[j] in BLANKS else -1


def _bullet_at(text: str, i: int) -> int:
    """Length of a bullet or brace sentence (`-`, `++`, `{`, `}`, `2:{`) at `i`, or 0."""
    m = _SELECTOR_BRACE_RE.match(text, i)
    if m:
        return m.end() - i
    c = text[i]
    if c in "{}":
        return 1
    if c in "-+*" and not text.startswith("*)", i):
        j = i
        while j < len(text) and text[j] == c:
            j += 1
        return j - i
    return 0


class LineIndex:
    """1-based line numbers of offsets, in O(log n) each."""

    def __init__(self, text: str) -> None:
        self._starts = [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset) + 1


def split_sentences(text: str) -> list[Sentence]:
    """Split Coq source into sentences (see module docstring); linear in the text's size."""
    if text.startswith(BOM):
        raise CoqSyntaxError("strip the byte-order mark first (see `source_text`)")
    lines = LineIndex(text)
    sentences: list[Sentence] = []
    i, n = skip_blank(text, 0), len(text)
    while i < n:
        start = i
        size = _bullet_at(text, i)
        i = i + size if size else _scan_to_period(text, i)
        sentences.append(Sentence(text[start:i], start, i, lines.line(start)))
        i = skip_blank(text, i)
    return sentences


def _scan_to_period(text: str, i: int) -> int:
    n = len(text)
    while True:
        m = LEXEME_RE.search(text, i)
        if m is None:
            return n  # trailing text without a final period: Coq rejects it; keep it
        j = m.start()
        if m.group() == "(*":
            i = skip_comment(text, j)
        elif m.group() == '"':
            i = skip_string(text, j)
        else:
            end = _ends_sentence(text, j)
            if end >= 0:
                return end
            i = j + 1


# --- declarations and their proofs ----------------------------------------------------------


def _enters_proof_mode(keyword: str, code: str) -> bool:
    if re.match(rf"^{_ATTRIBUTES}(?:\w+\s+)*Program\b", code):
        return False  # Program declarations leave obligations, proved by `Next Obligation`
    if keyword in THEOREM_KEYWORDS:
        return ":=" not in code
    return ":=" not in code and ":" in code


def _declaration(s: Sentence) -> tuple[str, str] | None:
    """(keyword, name) if `s` states something to prove (name "" for a Goal or obligation)."""
    if s.is_inert:
        return None
    cmd = s.command
    m = _DECL_RE.match(cmd)
    if m is not None:
        return (m["kw"], m["name"]) if _enters_proof_mode(m["kw"], cmd) else None
    m = _UNNAMED_PROOF_RE.match(cmd)
    return (m.group().split()[0].lstrip("#"), "") if m else None


def _ender(s: Sentence) -> str:
    if s.is_inert:
        return ""
    m = _ENDER_RE.match(s.command)
    if m is None:
        return "Proof" if _PROOF_TERM_RE.match(s.command) else ""
    return m["kw"] or ("Save" if m["save"] else "Abort")


def _closes_scope(s: Sentence) -> bool:
    """Sentences that cannot occur inside a proof: the statement before had none."""
    cmd = s.command
    return bool(_END_RE.match(cmd) or _SECTION_RE.match(cmd) or _MODULE_RE.match(cmd))


def find_theorems(sentences: list[Sentence]) -> list[CoqTheorem]:
    """Every proof-mode declaration in source order, with its proof's sentence span."""
    theorems: list[CoqTheorem] = []
    scopes: list[Scope] = []
    i, n = 0, len(sentences)
    while i < n:
        _track_scope(sentences[i], scopes, i)
        decl = _declaration(sentences[i])
        if decl is None:
            i += 1
            continue
        j, ender = i + 1, ""
        while j < n:
            ender = _ender(sentences[j])
            if ender or _declaration(sentences[j]) is not None or _closes_scope(sentences[j]):
                break  # no ender: this statement had no proof (an Example, a Program Instance)
            j += 1
        proof = tuple(range(i + 1, j)) if ender else ()
        theorems.append(
            CoqTheorem(
                name=decl[1],
                keyword=decl[0],
                index=i,
                proof=proof,
                ender=ender,
                end_index=j if ender else i,
                scopes=tuple(scopes),
                line=sentences[i].line,
            )
        )
        i = j + 1 if ender else i + 1
    return theorems


def _track_scope(s: Sentence, scopes: list[Scope], index: int) -> None:
    if s.is_inert:
        return
    cmd = s.command
    m = _SECTION_RE.match(cmd)
    if m:
        scopes.append(Scope("Section", m["name"], (), index))
        return
    m = _MODULE_RE.match(cmd)
    if m and ":=" not in cmd:
        head = cmd.split("<:")[0]
        params = tuple(p for grp in _PARAMS_RE.findall(head) for p in grp.split())
        scopes.append(Scope("ModuleType" if m["type"] else "Module", m["name"], params, index))
        return
    m = _END_RE.match(cmd)
    if m and scopes and scopes[-1].name == m["name"]:
        scopes.pop()


def without_module_type(header: str) -> str:
    """A `Module` header sentence (original text) with its signature constraint (`<: T` or
    `: T`) dropped, comments and strings kept verbatim.

    A proof re-checked inside a truncated module must still close it with `End`, and the
    truncated body would not satisfy the signature; the theorem itself is checked the same."""
    depth, i, n = 0, header.index("Module") + len("Module"), len(header)
    while i < n:
        c = header[i]
        if header.startswith("(*", i):
            i = skip_comment(header, i)
            continue
        if c == '"':
            i = skip_string(header, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c == ":" and not header.startswith(":=", i):
            cut = i - 1 if header[i - 1] == "<" else i
            return header[:cut].rstrip() + "."
        i += 1
    return header


def rename_statement(text: str, name: str, new_name: str) -> str | None:
    """The statement sentence `text` (original text) with its declared `name` replaced by
    `new_name`, or None if the name is not where the declaration puts it."""
    i = 0
    while True:
        i = skip_blank(text, i)
        m = re.compile(rf"#\[[^\]]*\]|{_IDENT}").match(text, i)
        if m is None:
            return None
        word, i = m.group(), m.end()
        if word in THEOREM_KEYWORDS + DEFINITION_KEYWORDS:
            break
        if not (word.startswith("#[") or word in _CONTROL_WORDS):
            return None
    j = skip_blank(text, i)
    m = re.compile(_IDENT).match(text, j)
    if m is None or m.group() != name:
        return None
    return text[:j] + new_name + text[m.end() :]


_CONTROL_WORDS = (
    "Time",
    "Local",
    "Global",
    "Polymorphic",
    "Monomorphic",
    "Private",
    "Cumulative",
)


# --- the single-tactic check ---------------------------------------------------------------

_SELECTOR_RE = re.compile(
    r"^\s*(?P<sel>all|par|!|\[\s*"
    + _IDENT
    + r"\s*\]|\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*)"
    r"\s*:(?!=)\s*(?P<body>.*)$",
    re.S,
)
_FORBIDDEN_TACTICS = re.compile(r"(?<![\w'.])(admit|give_up|Admitted|Abort|Qed|Defined)(?![\w'])")
MAX_TACTIC_CHARS = 4000


@dataclass(frozen=True)
class TacticSentence:
    """A checked tactic: `text` as the user wrote it, `wrapped` as sent to Coq."""

    text: str
    wrapped: str


def check_tactic(tactic: str) -> TacticSentence | str:
    """Return the checked tactic, or a message saying why it is refused.

    The body is sent to Coq wrapped in parentheses (after an optional goal selector), so
    Coq's own parser guarantees it is one tactic expression: any vernacular command
    (`Qed`, `Axiom`, `Unset Guard Checking`, `Redirect`, `Drop`, `Fail`, ...) is a syntax error.
    """
    text = tactic.strip()
    if not text:
        return "refused: empty tactic"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "refused: the tactic is not valid Unicode text (a lone surrogate?)"
    if len(text) > MAX_TACTIC_CHARS:
        return f"refused: tactic longer than {MAX_TACTIC_CHARS} characters"
    if not text.endswith("."):
        text += "."
    try:
        sentences = split_sentences(text)
    except CoqSyntaxError as e:
        return f"refused: {e}"
    if len(sentences) != 1:
        return f"refused: expected exactly one tactic sentence, got {len(sentences)}"
    s = sentences[0]
    code = s.code
    if s.is_bullet or code.startswith(("-", "+", "*", "{", "}")):
        return "refused: bullets and braces are not tactics (tactics act on the first goal)"
    if code.endswith("...") or not code.endswith("."):
        return "refused: a tactic sentence ends with a single '.'"
    if _FORBIDDEN_TACTICS.search(_blank_strings(code)):
        return "refused: admit, give_up and proof-ending commands are not allowed"
    body = strip_comments(s.text).strip()[:-1].strip()  # string literals kept verbatim
    m = _SELECTOR_RE.match(body)
    if m:
        if not m["body"].strip():
            return "refused: goal selector without a tactic"
        wrapped = f"{m['sel']}: ({m['body'].strip()})."
    else:
        wrapped = f"({body})."
    return TacticSentence(text=text, wrapped=wrapped)


def _blank_strings(code: str) -> str:
    return re.sub(r'"(?:[^"]|"")*"', '""', code)


# --- a parsed file -------------------------------------------------------------------------


@dataclass(frozen=True)
class CoqDocument:
    """A parsed source file."""

    ctx: CoqFileContext
    text: str
    sentences: tuple[Sentence, ...]
    theorems: tuple[CoqTheorem, ...]
    required: tuple[Path, ...] = ()  # project library sources it Requires, dependencies first

    def find(self, name: str) -> CoqTheorem:
        """The theorem called `name`: its short name, a qualified suffix (`NatList.app`) or
        its full name (`LF.Lists.NatList.app`). An ambiguous name is an error listing the
        candidates."""
        named = [t for t in self.theorems if t.name]
        full = {id(t): f"{self.ctx.logical_name}.{t.qualified_name}" for t in named}
        exact = [t for t in named if name in (full[id(t)], t.qualified_name)]
        matches = exact or [t for t in named if ("." + full[id(t)]).endswith("." + name)]
        if len(matches) > 1:
            options = ", ".join(self.short_name(t) for t in matches)
            raise TheoremNotFound(
                f"{name!r} is ambiguous in {self.ctx.path}: {options}; give a qualified name"
            )
        if not matches:
            close = difflib.get_close_matches(name, [t.qualified_name for t in named], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TheoremNotFound(f"no theorem named {name!r} in {self.ctx.path}{hint}")
        return matches[0]

    def short_name(self, thm: CoqTheorem) -> str:
        """The shortest qualified suffix of `thm`'s name that no other theorem here shares."""
        return self._short_names[thm.qualified_name]

    @functools.cached_property
    def _short_names(self) -> dict[str, str]:
        return short_names([t.qualified_name for t in self.theorems if t.name])


def load_document(
    path: str | Path,
    extra_args: tuple[str, ...] = (),
    *,
    allow_impredicative_set: bool = False,
    library: Path | None = None,
) -> CoqDocument:
    p = Path(path)
    if not p.is_file():
        raise EnvError(f"{p}: no such file (give the path of a Coq .v file)")
    if p.suffix != ".v":
        raise EnvError(f"{p}: not a Coq source file (expected a .v file)")
    try:
        text = source_text(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise EnvError(f"{p}: not UTF-8 text ({e})") from e
    except OSError as e:
        raise EnvError(f"{p}: cannot read it ({e.strerror or e})") from e
    try:
        sentences = split_sentences(text)
    except CoqSyntaxError as e:
        raise EnvError(f"{p}: cannot split into sentences: {e}") from e
    ctx = file_context(
        p, extra_args, allow_impredicative_set=allow_impredicative_set, library=library
    )
    required = vet_sources(ctx.path, ctx.args, tuple(folder for folder, _ in ctx.mappings))
    if library is not None:  # compiled again for each check, like the project's own libraries
        required = [*required, library / LIBRARY_FILE]
    return CoqDocument(
        ctx, text, tuple(sentences), tuple(find_theorems(sentences)), tuple(required)
    )
