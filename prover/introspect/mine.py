"""Mine tactic programs from the proof corpus with Stitch, and find where each one applies.

Every sentence of every corpus proof is one Stitch program (`sexpr.to_sexp` of its canonical
tree; a tactic's name is part of its node, so no hole can stand for it).
`stitch_core.compress` returns abstractions in the order it found them (each the most
compressive at its step; later ones may call earlier ones, which are inlined here). An
abstraction becomes a candidate `Program` when it is a whole tactic whose holes stand for
one argument word (a hypothesis, term or lemma name) or for a whole sub-tactic (passed as
`ltac:(...)`), when it has a tactic of its own and is more than one tactic renamed. Local
names left in a body (`h0`, ...) become parameters too, since a library tactic cannot name a
proof's own hypotheses; a program whose parameters then exceed `max_arity` is refused. Each
refusal keeps its reason.

Each program's `uses` are the corpus sentences it matches (the whole sentence or one of its
sub-tactics), with the arguments that instantiate it there, in the proof's own names.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import stitch_core

from prover.envs.base import QUALID_RE
from prover.envs.coq_ltac import (
    CANONICAL_RE,
    Tactic,
    Token,
    parse_tactic,
    print_tactic,
    rename_tokens,
    tokenize,
)
from prover.introspect.corpus import Corpus
from prover.introspect.sexpr import (
    Sexp,
    from_sexp,
    node_arity,
    parse,
    show,
    symbol_token,
    to_sexp,
    word_symbol,
)

_HOLE_RE = re.compile(r"#(\d+)")
_PARAM_NAME_RE = re.compile(r"x\d+")


@dataclass(frozen=True)
class Use:
    proof: int  # index into corpus.proofs
    sentence: int  # index into that proof's sentences
    args: tuple[str, ...]  # the program's arguments there, in the proof's own names
    rewritten: str  # the sentence calling the program instead


@dataclass
class Program:
    name: str  # st_<8 hex of the body's hash>: stable across runs
    params: tuple[str, ...]
    body: str  # Ltac body (Coq text)
    pattern: Sexp  # the abstraction with holes "#i" (parameter i)
    compression: float  # Stitch's cumulative compression ratio after this abstraction
    uses: list[Use] = field(default_factory=list)
    refused: str = ""  # why it cannot be a library program ("" if it can)
    verified_proofs: list[str] = field(default_factory=list)  # re-checked calling it

    @property
    def arity(self) -> int:
        return len(self.params)

    @property
    def param_kinds(self) -> tuple[str, ...]:
        """Per parameter: "tactic" (passed as `ltac:(...)`) or "name" (a word argument)."""
        tactic_keys = {leaf for leaf in _tactic_names(self.pattern) if isinstance(leaf, str)}
        return tuple(
            "tactic" if key in tactic_keys else "name" for key in _param_keys(self.pattern)
        )

    def definition(self) -> str:
        params = "".join(f" {p}" for p in self.params)
        return f"Ltac {self.name}{params} := {self.body}."


MAX_SYMBOLS = 30  # longer sentences are left out of mining (Stitch's memory grows with them)
MAX_REPEATS = 3  # copies of one sentence given to Stitch (its `weights` option panics)


def mine(
    corpus: Corpus, *, iterations: int = 40, max_arity: int = 3, max_sentences: int = 4000
) -> list[Program]:
    """Stitch abstractions of the corpus as programs (refused ones too, with the reason), in
    the order Stitch found them. Stitch sees the `max_sentences` most frequent distinct
    sentences of at most `MAX_SYMBOLS` symbols, each up to `MAX_REPEATS` times (memory: the
    whole stdlib's 33k distinct sentences need far more than 24 GiB); uses are then found in
    the whole corpus. Deterministic for a fixed corpus (one thread, ties broken by text)."""
    counts = Counter(show(to_sexp(t)) for p in corpus.proofs for t in p.trees)
    short = [s for s in counts if len(s.split()) <= MAX_SYMBOLS]
    chosen = sorted(short, key=lambda s: (-counts[s], s))[:max_sentences]
    programs = [s for s in chosen for _ in range(min(counts[s], MAX_REPEATS))]
    if not programs:
        return []
    result = stitch_core.compress(
        programs,
        iterations=iterations,
        max_arity=max_arity,
        threads=1,
        no_curried_bodies=True,  # an abstraction is a whole node, never part of one
        no_curried_metavars=True,  # and a hole is never in function position
    )
    bodies: dict[str, Sexp] = {}
    out: list[Program] = []
    seen: set[str] = set()
    for abstraction in result.json["abstractions"]:
        pattern = _inline(parse(abstraction["body"]), bodies)
        bodies[abstraction["name"]] = pattern
        program = _program(pattern, abstraction["cumulative_compression_ratio"], max_arity)
        if program.name not in seen:  # the same tactic again (blanks aside): keep the first
            seen.add(program.name)
            out.append(program)
    for program in out:
        if not program.refused:
            program.uses = find_uses(program, corpus)
    return out


def _inline(s: Sexp, bodies: dict[str, Sexp]) -> Sexp:
    """`s` with calls of earlier abstractions (`(fn_3 a b)`, or `fn_3` alone) expanded; a call
    given more arguments than the abstraction's holes applies its body to the rest."""
    if isinstance(s, str):
        # an abstraction named without its arguments inlines only when it takes none
        return bodies[s] if s in bodies and not _HOLE_RE.search(show(bodies[s])) else s
    head, args = s[0], [_inline(a, bodies) for a in s[1:]]
    if isinstance(head, str) and head in bodies:
        body = bodies[head]
        used = len(set(_HOLE_RE.findall(show(body))))
        expanded = _substitute(body, args[:used])
        rest = args[used:]
        if not rest:
            return expanded
        return [*expanded, *rest] if isinstance(expanded, list) else [expanded, *rest]
    return [_inline(head, bodies), *args]


def _substitute(body: Sexp, args: list[Sexp]) -> Sexp:
    if isinstance(body, str):
        m = _HOLE_RE.fullmatch(body)
        return args[int(m.group(1))] if m and int(m.group(1)) < len(args) else body
    return [_substitute(x, args) for x in body]


def _program(pattern: Sexp, compression: float, max_arity: int) -> Program:
    if isinstance(pattern, str):
        refused = "it only renames one tactic" if pattern.startswith("atom0/") else "a hole"
    elif str(pattern[0]).startswith("atom") and all(_is_parameter(x) for x in pattern[1:]):
        refused = "it only renames one tactic"
    else:
        refused = _shape_problem(pattern)
    # holes and local names, in order of first appearance: parameters x0, x1, ...
    keys = _param_keys(pattern)
    renamed = {key: f"x{i}" for i, key in enumerate(keys)}
    params = tuple(renamed.values())
    if not refused and len(params) > max_arity:
        refused = f"{len(params)} parameters once its local names are (at most {max_arity})"
    if not refused and not any(not _is_parameter(leaf) for leaf in _tactic_names(pattern)):
        refused = "no tactic of its own (only its parameters, combined)"
    if not refused and any(_PARAM_NAME_RE.fullmatch(symbol_token(w).text) for w in _words(pattern)):
        refused = "it names x0, x1, ... itself, which its parameters would capture"
    body = "" if refused else print_tactic(_render(pattern, renamed))
    # the name hashes the tactic, blanks between tokens aside: the same program always has
    # the same name, however Stitch numbered its holes
    spaced = _spaced(pattern)
    key = print_tactic(_render(spaced, renamed)) if body else show(spaced)
    digest = hashlib.sha256(f"{params}|{key}".encode())
    return Program(
        f"st_{digest.hexdigest()[:8]}", params, body, pattern, compression, refused=refused
    )


def program_tree(program: Program) -> Tactic:
    """The program's body as a tree whose parameters are the words x0, x1, ... (for printers
    of other languages than Ltac)."""
    keys = _param_keys(program.pattern)
    return _render(program.pattern, {key: f"x{i}" for i, key in enumerate(keys)})


def _shape_problem(s: Sexp, in_atom_arg: bool = False) -> str:
    """Why `s` is not a whole tactic whose holes are all tactic arguments ("" when it is)."""
    if isinstance(s, str):
        if _HOLE_RE.fullmatch(s) or s.startswith("atom0/"):
            return ""  # a hole (an argument, or a tactic passed as ltac:(...)), a bare tactic
        return "" if in_atom_arg else "a bare word, not a tactic"
    head = s[0] if s else None
    arity = node_arity(head) if isinstance(head, str) else None
    if arity is None:
        return "a hole stands for part of a tactic (not one argument)"
    if arity != len(s) - 1:
        return "a partial tactic (some of its arguments are missing)"
    if str(head).startswith("atom"):
        return next((p for x in s[1:] if (p := _shape_problem(x, True))), "")
    return next((p for x in s[1:] if (p := _shape_problem(x))), "")


def _render(pattern: Sexp, renamed: dict[str, str]) -> Tactic:
    """The pattern as a tactic whose holes and local names are the parameters (a hole in a
    tactic's place becomes a parameter called as a tactic)."""

    def swap(s: Sexp, word: bool) -> Sexp:
        if isinstance(s, list):
            in_atom = isinstance(s[0], str) and s[0].startswith("atom")
            return [s[0], *(swap(x, in_atom) for x in s[1:])]
        key = symbol_token(s).text if s[:2] in ("s:", "n:") else s
        if key not in renamed:
            return s
        symbol = ("n:" if s.startswith("n:") else "s:") + renamed[key]
        return symbol if word else "atom0/" + symbol

    return from_sexp(swap(pattern, False))


# --- where a program applies -------------------------------------------------------------------


def find_uses(program: Program, corpus: Corpus) -> list[Use]:
    """Every corpus sentence the program matches, rewritten to call it (the outermost,
    leftmost match in each sentence)."""
    uses = []
    for i, proof in enumerate(corpus.proofs):
        for j, tree in enumerate(proof.trees):
            found = _rewrite(to_sexp(tree), program, proof.names)
            if found is not None:
                new_tree, args = found
                call = rename_tokens(from_sexp(new_tree), proof.names)
                uses.append(Use(i, j, args, print_tactic(call) + "."))
    return uses


def _rewrite(
    s: Sexp, program: Program, names: dict[str, str]
) -> tuple[Sexp, tuple[str, ...]] | None:
    """`s` with its first match of the program replaced by a call, and the call's arguments
    in the proof's own names; None when nothing matches."""
    binding: dict[str, Sexp] = {}
    if _match(program.pattern, s, binding):
        args = tuple(_argument(binding[key], names) for key in _param_keys(program.pattern))
        call = " ".join((program.name, *args))  # one token: it is in the proof's names already
        return "atom0/" + word_symbol(Token(call, True)), args
    if isinstance(s, list):
        for k, child in enumerate(s):
            if isinstance(child, list):
                found = _rewrite(child, program, names)
                if found is not None:
                    return [*s[:k], found[0], *s[k + 1 :]], found[1]
    return None


def _argument(bound: Sexp, names: dict[str, str]) -> str:
    """A call's argument: a word (renamed), or a tactic quoted as `ltac:(...)`."""
    if isinstance(bound, str) and not bound.startswith("atom0/"):
        word = symbol_token(bound).text
        return names.get(word, word)
    return f"ltac:({print_tactic(rename_tokens(from_sexp(bound), names))})"


def _param_keys(pattern: Sexp) -> list[str]:
    """The binding keys of the parameters (holes `#i` and local names `hN`) in order of first
    appearance, left to right: the same tactic gets the same parameters however Stitch or
    the canonical numbering happened to order them."""
    keys: list[str] = []
    for leaf in _leaves(pattern):
        key = leaf if _HOLE_RE.fullmatch(leaf) else ""
        if leaf[:2] in ("s:", "n:") and CANONICAL_RE.fullmatch(symbol_token(leaf).text):
            key = symbol_token(leaf).text
        if key and key not in keys:
            keys.append(key)
    return keys


def _spaced(s: Sexp) -> Sexp:
    """`s` with a blank before every token (the key that names a program)."""
    if isinstance(s, str):
        return "s:" + s[2:] if s.startswith("n:") else s
    return [_spaced(x) for x in s]


def _is_parameter(s: Sexp) -> bool:
    """A hole, or a local name (which becomes a parameter)."""
    if not isinstance(s, str):
        return False
    return bool(_HOLE_RE.fullmatch(s)) or (
        s[:2] in ("s:", "n:") and CANONICAL_RE.fullmatch(symbol_token(s).text) is not None
    )


def _tactic_names(s: Sexp) -> list[Sexp]:
    """Each tactic position of a pattern: an atom's head, or a hole standing for a tactic."""
    if isinstance(s, str):
        return [s]
    head = s[0]
    if isinstance(head, str) and head.startswith("atom"):
        return [head]
    return [t for x in s[1:] for t in _tactic_names(x)]


def _words(s: Sexp) -> list[str]:
    """The token symbols of a pattern (its atoms' names and arguments)."""
    if isinstance(s, str):
        name = s.split("/", 1)[1] if s.startswith("atom") else s
        return [name] if name[:2] in ("s:", "n:") else []
    return [w for x in s for w in _words(x)]


def _leaves(s: Sexp) -> list[str]:
    return [s] if isinstance(s, str) else [leaf for x in s[1:] for leaf in _leaves(x)]


def _match(p: Sexp, s: Sexp, binding: dict[str, Sexp]) -> bool:
    """Whether `s` is an instance of pattern `p`. A hole binds the subtree it stands for (a
    tactic, or one name-like word among a tactic's arguments); a local name binds one
    name-like word; each consistently."""
    if isinstance(p, list):
        if not isinstance(s, list) or len(p) != len(s):
            return False
        return all(_match(a, b, binding) for a, b in zip(p, s, strict=True))
    hole = _HOLE_RE.fullmatch(p) is not None
    local = p[:2] in ("s:", "n:") and CANONICAL_RE.fullmatch(symbol_token(p).text) is not None
    if not hole and not local:
        if p[:2] in ("s:", "n:") and isinstance(s, str) and s[:2] in ("s:", "n:"):
            return symbol_token(p).text == symbol_token(s).text  # blanks do not matter
        return p == s
    if isinstance(s, str) and hole and s.startswith("atom0/"):
        pass  # a hole in a tactic's place binds a bare tactic
    elif isinstance(s, str):
        if s[:2] not in ("s:", "n:") or not QUALID_RE.fullmatch(symbol_token(s).text):
            return False  # an argument is one (qualified) name, never punctuation
        s = word_symbol(Token(symbol_token(s).text, True))  # blanks around it do not matter
    elif local:
        return False
    key = p if hole else symbol_token(p).text
    return binding.setdefault(key, s) == s


def from_definition(name: str, params: Sequence[str], body: str) -> Program:
    """A library program back from its definition (`library.json`'s name, params and body),
    ready for `find_uses`: its parameters become holes again."""
    holes = {p: f"#{i}" for i, p in enumerate(params)}

    def unparam(s: Sexp) -> Sexp:
        if isinstance(s, list):
            return [s[0], *(unparam(x) for x in s[1:])]
        if s.startswith("atom0/") and symbol_token(s[6:]).text in holes:
            return holes[symbol_token(s[6:]).text]  # a tactic parameter
        if s[:2] in ("s:", "n:") and symbol_token(s).text in holes:
            return holes[symbol_token(s).text]
        return s

    pattern = unparam(to_sexp(parse_tactic(body)))
    return Program(name, tuple(params), body, pattern, 0.0)


def rewrite_with(tree: Tactic, programs: Sequence[Program], names: dict[str, str]) -> Tactic:
    """`tree` (canonical) with matches of the programs replaced by calls, in library order,
    as long as a call is shorter (in tokens) than what it replaces; in the proof's own names."""
    s = to_sexp(tree)
    size = _tokens(s, names)
    for program in programs:
        while (found := _rewrite(s, program, names)) is not None:
            new_size = _tokens(found[0], names)
            if new_size >= size:
                break
            s, size = found[0], new_size
    return rename_tokens(from_sexp(s), names)


def _tokens(s: Sexp, names: dict[str, str]) -> int:
    return len(tokenize(print_tactic(rename_tokens(from_sexp(s), names))))
