"""Coq source text: sentence splitting, theorem lookup, and the single-tactic check.

Sentences follow Coq's lexical rules: a `.` followed by whitespace (or the end of the text)
ends a sentence, outside nested comments `(* ... *)` and strings `"..."` (`""` escapes a
quote); `...` also ends one (`Proof with` scripts); bullets (`-`, `+`, `*` runs) and braces
(`{`, `}`, and selector braces such as `2:{`) at the start of a sentence are sentences of
their own, as CoqIDE sends them.
Offsets are character offsets into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
DEFINITION_KEYWORDS = ("Definition", "Instance", "Let")
PROOF_ENDERS = ("Qed", "Defined", "Admitted", "Abort", "Save")

_ATTRIBUTES = r"(?:#\[[^\]]*\]\s*)*"
_MODIFIERS = r"(?:(?:Local|Global|Polymorphic|Monomorphic|Program|Private|Cumulative)\s+)*"
_IDENT = r"[A-Za-z_\u00C0-\uFFFF][\w'\u00C0-\uFFFF]*"
_DECL_RE = re.compile(
    rf"^{_ATTRIBUTES}{_MODIFIERS}(?P<kw>{'|'.join(THEOREM_KEYWORDS + DEFINITION_KEYWORDS)})"
    rf"\s+(?P<name>{_IDENT})"
)
_ENDER_RE = re.compile(rf"^(?P<kw>{'|'.join(PROOF_ENDERS)})\b")
_PROOF_TERM_RE = re.compile(r"^Proof\s+(?!using\b|with\b)\S")  # `Proof term.` closes at once
_SECTION_RE = re.compile(rf"^Section\s+(?P<name>{_IDENT})\s*\.$")
_MODULE_RE = re.compile(
    rf"^{_ATTRIBUTES}(?:(?:Local|Global)\s+)?Module\s+(?:(?:Import|Export)\s+)?(?:Type\s+)?"
    rf"(?P<name>{_IDENT})"
)
_PARAMS_RE = re.compile(rf"\(\s*((?:{_IDENT}\s*)+):")
_FIELD_RE = re.compile(
    rf"^{_ATTRIBUTES}(?:Parameters?|Axioms?|Conjectures?|Variables?|Hypothes[ie]s)\s+(?P<names>(?:{_IDENT}\s*)+)"
)
_END_RE = re.compile(rf"^End\s+(?P<name>{_IDENT})\s*\.$")
_BULLET_RE = re.compile(r"(\-+|\++|\*+|\{|\}|(?:\d+|\[\s*[\w']+\s*\])\s*:\s*\{)")


@dataclass(frozen=True)
class Sentence:
    text: str  # the sentence, comments included, ending in '.' unless a bullet or brace
    start: int
    end: int  # exclusive
    line: int  # 1-based line of `start`

    @property
    def code(self) -> str:
        """The sentence without comments, whitespace collapsed."""
        return " ".join(strip_comments(self.text).split())

    @property
    def is_bullet(self) -> bool:
        return _BULLET_RE.fullmatch(self.code) is not None


@dataclass(frozen=True)
class Scope:
    kind: str  # "Section", "Module" or "ModuleType"
    name: str
    params: tuple[str, ...] = ()
    index: int = -1  # sentence index of the header


@dataclass(frozen=True)
class CoqTheorem:
    name: str
    keyword: str
    index: int  # index of the statement sentence
    proof: tuple[int, ...]  # indices of the proof sentences between statement and ender
    ender: str  # "Qed", "Defined", "Admitted", "Abort", "Save", "" (no proof found)
    end_index: int  # index of the ender sentence (== index when there is none)
    scopes: tuple[Scope, ...]  # open sections and modules, outermost first
    fields: tuple[str, ...]  # names declared inside enclosing Module Types (abstract fields)
    line: int

    @property
    def parameters(self) -> tuple[str, ...]:
        """Functor parameter names of the enclosing modules."""
        return tuple(p for s in self.scopes for p in s.params)


class CoqSyntaxError(ValueError):
    """The text cannot be split into sentences (unclosed comment or string)."""


def strip_comments(text: str) -> str:
    """Remove nested comments, keeping strings intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("(*", i):
            i = _skip_comment(text, i)
        elif text[i] == '"':
            j = _skip_string(text, i)
            out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _skip_comment(text: str, i: int) -> int:
    depth, n = 0, len(text)
    while i < n:
        if text.startswith("(*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*)", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        elif text[i] == '"':
            i = _skip_string(text, i)  # strings inside comments are lexed too
        else:
            i += 1
    raise CoqSyntaxError(f"unterminated comment starting at offset {i}")


def _skip_string(text: str, i: int) -> int:
    j = i + 1
    while True:
        k = text.find('"', j)
        if k < 0:
            raise CoqSyntaxError(f"unterminated string starting at offset {i}")
        if text.startswith('""', k):
            j = k + 2
            continue
        return k + 1


def _skip_blank(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("(*", i):
            i = _skip_comment(text, i)
        else:
            break
    return i


def _ends_sentence(text: str, i: int) -> int:
    """If a sentence ends with the '.' at `i`, return the offset after it, else -1."""
    n = len(text)
    if text.startswith("...", i):
        j = i + 3
        return j if j >= n or text[j].isspace() else -1
    if text.startswith("..", i):
        return -1
    if i > 0 and text[i - 1] == ".":
        return -1
    j = i + 1
    return j if j >= n or text[j].isspace() else -1


_SELECTOR_BRACE_RE = re.compile(r"(?:\d+|\[\s*" + _IDENT + r"\s*\])\s*:\s*\{")


def _bullet_at(text: str, i: int) -> int:
    """Length of a bullet or brace sentence (`-`, `+*`, `{`, `}`, `2:{`) at `i`, or 0."""
    m = _SELECTOR_BRACE_RE.match(text, i)
    if m:
        return m.end() - i
    c = text[i]
    if c in "{}":
        return 1
    if c in "-+*":
        j = i
        while j < len(text) and text[j] == c:
            j += 1
        if j >= len(text) or text[j].isspace() or text.startswith("(*", j):
            return j - i
    return 0


def split_sentences(text: str) -> list[Sentence]:
    """Split Coq source into sentences (see module docstring)."""
    sentences: list[Sentence] = []
    i, n = _skip_blank(text, 0), len(text)
    while i < n:
        start = i
        size = _bullet_at(text, i)
        if size:
            i += size
        else:
            i = _scan_to_period(text, i)
        sentences.append(Sentence(text[start:i], start, i, text.count("\n", 0, start) + 1))
        i = _skip_blank(text, i)
    return sentences


def _scan_to_period(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        if text.startswith("(*", i):
            i = _skip_comment(text, i)
        elif text[i] == '"':
            i = _skip_string(text, i)
        elif text[i] == ".":
            j = _ends_sentence(text, i)
            if j >= 0:
                return j
            i += 1
        else:
            i += 1
    # Trailing text without a final period: Coq would reject it; keep it as a sentence.
    return n


def _enters_proof_mode(keyword: str, code: str) -> bool:
    if re.match(rf"^{_ATTRIBUTES}(?:\w+\s+)*Program\b", code):
        return False  # Program declarations leave obligations, proved by `Next Obligation`
    if keyword in THEOREM_KEYWORDS:
        return ":=" not in code
    return ":=" not in code and ":" in code


def _is_declaration(code: str) -> bool:
    m = _DECL_RE.match(code)
    return m is not None and _enters_proof_mode(m["kw"], code)


def _closes_scope(code: str) -> bool:
    """Sentences that cannot occur inside a proof: the statement before had none."""
    return bool(_END_RE.match(code) or _SECTION_RE.match(code) or _MODULE_RE.match(code))


def find_theorems(sentences: list[Sentence]) -> list[CoqTheorem]:
    """Every proof-mode declaration in source order, with its proof's sentence span."""
    theorems: list[CoqTheorem] = []
    scopes: list[Scope] = []
    fields: list[list[str]] = []  # per open scope: abstract fields declared in Module Types
    i, n = 0, len(sentences)
    while i < n:
        code = sentences[i].code
        _track_scope(code, scopes, fields, i)
        m = _DECL_RE.match(code)
        if m is None or not _is_declaration(code):
            i += 1
            continue
        j = i + 1
        ender = ""
        while j < n:
            c = sentences[j].code
            em = _ENDER_RE.match(c)
            if em:
                ender = em["kw"]
                break
            if _PROOF_TERM_RE.match(c):
                ender = "Proof"
                break
            if _is_declaration(c) or _closes_scope(c):
                break  # this statement had no proof (e.g. an Example, or a Program Instance)
            j += 1
        proof = tuple(range(i + 1, j)) if ender else ()
        theorems.append(
            CoqTheorem(
                name=m["name"],
                keyword=m["kw"],
                index=i,
                proof=proof,
                ender=ender,
                end_index=j if ender else i,
                scopes=tuple(scopes),
                fields=tuple(f for fs in fields for f in fs),
                line=sentences[i].line,
            )
        )
        i = j + 1 if ender else i + 1
    return theorems


def _track_scope(code: str, scopes: list[Scope], fields: list[list[str]], index: int) -> None:
    m = _SECTION_RE.match(code)
    if m:
        scopes.append(Scope("Section", m["name"], (), index))
        fields.append([])
        return
    m = _MODULE_RE.match(code)
    if m and ":=" not in code and not code.startswith("Declare"):
        kind = "ModuleType" if re.search(r"\bModule\s+Type\b", code) else "Module"
        head = code.split("<:")[0]
        params = tuple(p for grp in _PARAMS_RE.findall(head) for p in grp.split())
        scopes.append(Scope(kind, m["name"], params, index))
        fields.append([])
        return
    m = _END_RE.match(code)
    if m and scopes and scopes[-1].name == m["name"]:
        scopes.pop()
        fields.pop()
        return
    m = _FIELD_RE.match(code)
    if m and scopes and scopes[-1].kind == "ModuleType":
        fields[-1].extend(m["names"].split())


def without_module_type(code: str) -> str:
    """A `Module` header with its signature constraint (`<: T` or `: T`) dropped.

    A proof re-checked inside a truncated module must still close it with `End`, and the
    truncated body would not satisfy the signature; the theorem itself is checked the same."""
    depth, i = 0, code.index("Module") + len("Module")
    while i < len(code):
        c = code[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c == ":" and not code.startswith(":=", i):
            cut = i - 1 if code[i - 1] == "<" else i
            return code[:cut].rstrip() + "."
        i += 1
    return code


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
    body = code[:-1].strip()
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
