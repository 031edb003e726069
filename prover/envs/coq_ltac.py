"""Coq tactic sentences as trees, for mining: parse, canonicalise local names, print back.

A sentence's tactic expression becomes a tree of
- `Seq(first, rest)`: `t1; t2` (left-associative, as Ltac reads it);
- `Branch(first, alts)`: `t; [a | b | ...]` (an empty alternative is `idtac`);
- `Wrap(word, body)`: `try t`, `repeat t`, `progress t`, `now t`, `do N t` (word "do N");
- `Alts(word, alts)`: `first [a | b]`, `solve [a | b]`;
- `Atom(tokens)`: anything else, a tactic name with its arguments, kept token by token.

Tokens keep whether a blank preceded them, so printing a tree gives back the sentence's text
up to blanks between tokens that had some (comments dropped): `print_tactic(parse_tactic(t))`
runs in Coq exactly as `t` does. A sentence the parser cannot read (unbalanced brackets, a
bullet, a goal selector, a sentence that is not one tactic) raises `LtacParseError`; callers
skip and count it, never guess.

Local names (hypotheses and variables of the proof states the steps ran in) are
canonicalised by first appearance, `h0`, `h1`, ..., so `intros n m; rewrite IHn` and
`intros a b; rewrite IHa` become the same tree; `rename_tokens` maps them back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prover.envs.coq_lex import strip_comments

_TOKEN_RE = re.compile(
    r'\s*(?:(?P<str>"(?:[^"]|"")*")|(?P<word>[A-Za-z_\u00C0-\uFFFF0-9][\w\'.\u00C0-\uFFFF]*)'
    r"|(?P<bar>\|\||\|-)|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<sep>[;|,])"
    r'|(?P<op>[^\sA-Za-z0-9_()\[\]{};|,"\u00C0-\uFFFF]+))'
)
_TRAILING_RE = re.compile(r"\s*\Z")
_CLOSING = {"(": ")", "[": "]", "{": "}"}
MAX_TOKENS = 5000
MAX_DEPTH = 100  # nested tactics (parentheses, try/repeat/..., branches)
WRAPPERS = ("try", "repeat", "progress")  # `now` takes the whole rest: see `_seq`
MATCHES = ("match", "lazymatch", "multimatch")
ALTERNATIVES = ("first", "solve")
IDENT_RE = re.compile(r"[A-Za-z_\u00C0-\uFFFF][\w'\u00C0-\uFFFF]*")
CANONICAL_RE = re.compile(r"h\d+")


class LtacParseError(ValueError):
    """The sentence is not a tactic expression this parser reads."""


@dataclass(frozen=True)
class Token:
    text: str
    spaced: bool  # a blank came before it in the source


@dataclass(frozen=True)
class Atom:
    tokens: tuple[Token, ...]


@dataclass(frozen=True)
class Seq:
    first: Tactic
    rest: Tactic


@dataclass(frozen=True)
class Branch:
    first: Tactic
    alts: tuple[Tactic, ...]


@dataclass(frozen=True)
class Wrap:
    word: str  # try | repeat | progress | now | "do N"
    body: Tactic


@dataclass(frozen=True)
class Alts:
    word: str  # first | solve
    alts: tuple[Tactic, ...]


Tactic = Atom | Seq | Branch | Wrap | Alts
IDTAC = Atom((Token("idtac", False),))


def tokenize(text: str) -> list[Token]:
    """The tokens of a tactic's text (comments removed); raises on what no token matches."""
    text = strip_comments(text)
    out, i = [], 0
    while i < len(text):
        if _TRAILING_RE.match(text, i):
            break
        m = _TOKEN_RE.match(text, i)
        if m is None or m.end() == i:
            raise LtacParseError(f"cannot read {text[i : i + 20]!r}")
        out.append(Token(m.group().strip(), m.start() != m.start(m.lastgroup or 0)))
        i = m.end()
    return out


def parse_tactic(sentence: str) -> Tactic:
    """The tree of one tactic sentence (its final '.' optional)."""
    body = sentence.strip()
    if body.endswith("."):
        body = body[:-1]
    tokens = tokenize(body)
    if not tokens:
        raise LtacParseError("empty tactic")
    if len(tokens) > MAX_TOKENS:
        raise LtacParseError(f"longer than {MAX_TOKENS} tokens")
    first = tokens[0].text
    if first in ("-", "+", "*", "{", "}") or re.fullmatch(r"[-+*]+", first):
        raise LtacParseError("a bullet or brace, not a tactic")
    if len(tokens) > 1 and tokens[1].text == ":" and (first.isdigit() or first == "all"):
        raise LtacParseError("a goal selector")
    if any(t.text in MATCHES for t in tokens):  # its `|` and `;` are not the tactic's
        raise LtacParseError("a match ... with, not split")
    tree = _seq(tokens)
    if _depth(tree) > MAX_DEPTH:  # printing and mining recurse over the tree
        raise LtacParseError(f"tactics nested deeper than {MAX_DEPTH}")
    return tree


def _children(tree: Tactic) -> tuple[Tactic, ...]:
    if isinstance(tree, Seq):
        return (tree.first, tree.rest)
    if isinstance(tree, Branch):
        return (tree.first, *tree.alts)
    if isinstance(tree, Wrap):
        return (tree.body,)
    if isinstance(tree, Alts):
        return tree.alts
    return ()


def _depth(tree: Tactic) -> int:
    """The tree's depth, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in _children(node))
    return deepest


def _split(tokens: Sequence[Token], sep: str) -> list[list[Token]]:
    """`tokens` cut at `sep` outside brackets; unbalanced brackets raise."""
    parts: list[list[Token]] = [[]]
    stack: list[str] = []
    for t in tokens:
        if t.text in _CLOSING:
            stack.append(_CLOSING[t.text])
        elif t.text in (")", "]", "}"):
            if not stack or stack.pop() != t.text:
                raise LtacParseError(f"unbalanced {t.text!r}")
        elif t.text == sep and not stack:
            parts.append([])
            continue
        parts[-1].append(t)
    if stack:
        raise LtacParseError(f"unclosed bracket, expected {stack[-1]!r}")
    return parts


def _enclosed(tokens: Sequence[Token], opener: str) -> bool:
    """Whether the first token opens a bracket that the last token closes."""
    if len(tokens) < 2 or tokens[0].text != opener or tokens[-1].text != _CLOSING[opener]:
        return False
    depth = 0
    for k, t in enumerate(tokens):
        depth += (t.text in _CLOSING) - (t.text in (")", "]", "}"))
        if depth == 0 and k < len(tokens) - 1:
            return False
    return True


def _seq(tokens: Sequence[Token], depth: int = 0) -> Tactic:
    if depth > MAX_DEPTH:
        raise LtacParseError(f"tactics nested deeper than {MAX_DEPTH}")
    parts = _split(tokens, ";")
    if any(not p for p in parts):
        raise LtacParseError("an empty tactic around ';'")
    now = next((k for k, p in enumerate(parts) if p[0].text == "now" and len(p) > 1), None)
    if now is not None:  # `now a; b` is `now (a; b)`: it takes the rest of the sequence
        start = sum(len(p) + 1 for p in parts[:now]) + 1
        rest = Wrap("now", _seq(tokens[start:], depth + 1))
        return rest if now == 0 else Seq(_seq(tokens[: start - 2], depth), rest)
    tree = _unit(parts[0], depth)
    for part in parts[1:]:
        if _enclosed(part, "["):
            tree = Branch(tree, _alternatives(part[1:-1], depth))
        else:
            tree = Seq(tree, _unit(part, depth))
    return tree


def _alternatives(tokens: Sequence[Token], depth: int) -> tuple[Tactic, ...]:
    return tuple(_seq(p, depth + 1) if p else IDTAC for p in _split(tokens, "|"))


def _unit(tokens: Sequence[Token], depth: int) -> Tactic:
    if depth > MAX_DEPTH:
        raise LtacParseError(f"tactics nested deeper than {MAX_DEPTH}")
    head = tokens[0].text
    if _enclosed(tokens, "("):
        return _seq(tokens[1:-1], depth + 1)
    if head in WRAPPERS and len(tokens) > 1:
        return Wrap(head, _unit(tokens[1:], depth + 1))
    if head == "do" and len(tokens) > 2 and tokens[1].text.isdigit():
        return Wrap(f"do {tokens[1].text}", _unit(tokens[2:], depth + 1))
    if head in ALTERNATIVES and _enclosed(tokens[1:], "["):
        return Alts(head, _alternatives(tokens[2:-1], depth))
    _split(tokens, "|")  # brackets must balance inside an atom too
    return Atom(tuple(tokens))


# --- printing ---------------------------------------------------------------------------------


def print_tactic(tree: Tactic) -> str:
    """Coq text for `tree` (no final '.')."""
    if isinstance(tree, Atom):
        return _join(tree.tokens)
    if isinstance(tree, Seq):
        return f"{print_tactic(tree.first)}; {_operand(tree.rest)}"
    if isinstance(tree, Branch):
        return f"{print_tactic(tree.first)}; [{' | '.join(map(print_tactic, tree.alts))}]"
    if isinstance(tree, Wrap):
        return f"{tree.word} {_operand(tree.body)}"
    return f"{tree.word} [{' | '.join(map(print_tactic, tree.alts))}]"


def _operand(tree: Tactic) -> str:
    """A sub-tactic printed so that it parses back as one unit."""
    text = print_tactic(tree)
    return f"({text})" if isinstance(tree, Seq | Branch) else text


def _join(tokens: Iterable[Token]) -> str:
    out: list[str] = []
    for t in tokens:
        if out and t.spaced:
            out.append(" ")
        out.append(t.text)
    return "".join(out)


# --- local names --------------------------------------------------------------------------------

_HYP_RE = re.compile(r"^([\w'\u00C0-\uFFFF][\w'\u00C0-\uFFFF, ]*?)\s*:=?\s", re.M)


def local_names(state: str) -> set[str]:
    """The hypothesis and variable names of every goal of a printed proof state."""
    names: set[str] = set()
    for goal in state.split("\n\n"):
        hyps = goal.split("============================")[0]
        for m in _HYP_RE.finditer(hyps):
            names.update(n.strip() for n in m.group(1).split(",") if IDENT_RE.fullmatch(n.strip()))
    return names


def map_tokens(tree: Tactic, fn: Callable[[Token], Token]) -> Tactic:
    """`tree` with `fn` applied to every atom's tokens."""
    if isinstance(tree, Atom):
        return Atom(tuple(fn(t) for t in tree.tokens))
    if isinstance(tree, Seq):
        return Seq(map_tokens(tree.first, fn), map_tokens(tree.rest, fn))
    if isinstance(tree, Branch):
        return Branch(map_tokens(tree.first, fn), tuple(map_tokens(a, fn) for a in tree.alts))
    if isinstance(tree, Wrap):
        return Wrap(tree.word, map_tokens(tree.body, fn))
    return Alts(tree.word, tuple(map_tokens(a, fn) for a in tree.alts))


def canonicalise(trees: Sequence[Tactic], local: set[str]) -> tuple[list[Tactic], dict[str, str]]:
    """The trees of one proof with its local names renamed `h0`, `h1`, ... in order of first
    appearance, and the map canonical -> original."""
    canon: dict[str, str] = {}
    # a literal h0 in a proof is renamed like a local name, so it cannot meet a canonical one
    words = {t.text for tree in trees for t in _tokens_of(tree)}
    local = set(local) | {w for w in words if CANONICAL_RE.fullmatch(w)}

    def rename(t: Token) -> Token:
        if t.text in local:
            if t.text not in canon:
                canon[t.text] = f"h{len(canon)}"
            return Token(canon[t.text], t.spaced)
        return t

    out = [map_tokens(tree, rename) for tree in trees]
    return out, {v: k for k, v in canon.items()}


def _tokens_of(tree: Tactic) -> list[Token]:
    if isinstance(tree, Atom):
        return list(tree.tokens)
    return [t for child in _children(tree) for t in _tokens_of(child)]


def rename_tokens(tree: Tactic, names: dict[str, str]) -> Tactic:
    """`tree` with each token named in `names` replaced (blanks kept)."""
    return map_tokens(tree, lambda t: Token(names.get(t.text, t.text), t.spaced))
