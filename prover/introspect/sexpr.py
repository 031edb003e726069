"""Tactic trees as Stitch programs and back.

Stitch (`stitch-core`) learns abstractions over lambda-calculus programs written as
s-expressions of symbols. A tactic tree is written as
- `(atom2/NAME W1 W2)` for a tactic with its arguments, one symbol per token (the name is
  part of the head, so no abstraction can leave it open); `atom0/NAME` for a bare tactic;
- `(seq A B)`, `(branch2 A B1 B2)`, `(w_try A)` / `(w_do_2 A)` ..., `(a_first2 B1 B2)`.
A head carries its number of arguments, so an abstraction can only be a whole node.

A token's symbol is `s:` or `n:` (a blank before it or not) and its text with every character
outside `[A-Za-z0-9_'.]` written `~HEX;`, so any token round-trips and no symbol holds a
blank, a parenthesis, or starts with `#` / `$` (Stitch's own).
"""

from __future__ import annotations

import re

from prover.envs.coq_ltac import Alts, Atom, Branch, Seq, Tactic, Token, Wrap

Sexp = str | list["Sexp"]
_PLAIN = re.compile(r"[A-Za-z0-9_'.]")
_ESCAPE = re.compile(r"~([0-9a-f]+);")
_HEAD_RE = re.compile(
    r"(?P<kind>atom|branch|a_first|a_solve)(?P<n>\d+)|(?P<fixed>seq|w_(?:try|repeat|progress|now|do_\d+))"
)


def word_symbol(token: Token) -> str:
    body = "".join(c if _PLAIN.fullmatch(c) else f"~{ord(c):x};" for c in token.text)
    return ("s:" if token.spaced else "n:") + body


def symbol_token(symbol: str) -> Token:
    if symbol[:2] not in ("s:", "n:"):
        raise ValueError(f"not a token symbol: {symbol!r}")
    return Token(_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), symbol[2:]), symbol[0] == "s")


def to_sexp(tree: Tactic) -> Sexp:
    if isinstance(tree, Atom):
        name, *args = tree.tokens
        # the tactic's name is in the head, never a hole; blanks before it do not matter
        head = f"atom{len(args)}/{word_symbol(Token(name.text, True))}"
        return [head, *(word_symbol(t) for t in args)] if args else head
    if isinstance(tree, Seq):
        return ["seq", to_sexp(tree.first), to_sexp(tree.rest)]
    if isinstance(tree, Branch):
        return [f"branch{len(tree.alts)}", to_sexp(tree.first), *(to_sexp(a) for a in tree.alts)]
    if isinstance(tree, Wrap):
        return ["w_" + tree.word.replace(" ", "_"), to_sexp(tree.body)]
    return [f"a_{tree.word}{len(tree.alts)}", *(to_sexp(a) for a in tree.alts)]


def node_arity(head: str) -> int | None:
    """How many arguments a node with this head takes (None: not a tactic node). Heads carry
    their arity (`atom3`, `branch2`, `a_first2`) so that Stitch cannot split an application:
    an abstraction that applies a head to fewer arguments is a partial tactic."""
    m = _HEAD_RE.fullmatch(head.split("/", 1)[0] if head.startswith("atom") else head)
    if m is None:
        return None
    if m["fixed"]:
        return 2 if m["fixed"] == "seq" else 1
    return int(m["n"]) + (1 if m["kind"] == "branch" else 0)


def from_sexp(s: Sexp) -> Tactic:
    if isinstance(s, str) and s.startswith("atom0/"):
        return Atom((symbol_token(s.split("/", 1)[1]),))
    if not isinstance(s, list) or not s or not isinstance(s[0], str):
        raise ValueError(f"not a tactic: {show(s)}")
    head, args = s[0], s[1:]
    if node_arity(head) != len(args):
        raise ValueError(f"not a whole tactic: {show(s)}")
    if head.startswith("atom"):
        name = symbol_token(head.split("/", 1)[1])
        return Atom((name, *(symbol_token(a) for a in args if isinstance(a, str))))
    if head == "seq":
        return Seq(from_sexp(args[0]), from_sexp(args[1]))
    if head.startswith("branch"):
        return Branch(from_sexp(args[0]), tuple(from_sexp(a) for a in args[1:]))
    if head.startswith("w_"):
        return Wrap(head[2:].replace("_", " "), from_sexp(args[0]))
    return Alts(head[2:].rstrip("0123456789"), tuple(from_sexp(a) for a in args))


def show(s: Sexp) -> str:
    return s if isinstance(s, str) else "(" + " ".join(show(x) for x in s) + ")"


def parse(text: str) -> Sexp:
    """Read one s-expression (Stitch's output syntax: symbols and parentheses)."""
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    stack: list[list[Sexp]] = [[]]
    for t in tokens:
        if t == "(":
            stack.append([])
        elif t == ")":
            if len(stack) < 2:
                raise ValueError(f"unbalanced: {text!r}")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(t)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"not one s-expression: {text!r}")
    return stack[0][0]
