"""Lean 4 names: reading them as Lean prints them, writing them for commands we send.

A name is a tuple of components: `Foo.«my lemma».bar` is `("Foo", "my lemma", "bar")`. Lean
prints a component in `«»` when it is not a plain identifier part; a private constant prints
as `_private.<module>.0.<name>` (the `0` is a numeric component). Names are compared as
component tuples, never as text, so `Foo.bar`, `Foo.«bar»` and `«Foo».bar` are one name.
"""

from __future__ import annotations

import re

Name = tuple[str, ...]

# One plain identifier component: a letter or `_`, then letters, digits, `_`, `'`, `!`, `?`
# or subscripts (Lean's `isIdFirst` / `isIdRest`; Python's `\w` covers Unicode letters).
_ATOM = re.compile(r"[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ]*")
# Characters that end an unquoted component in printed text.
_STOP = set(".«»,[]():") | {" ", "\t", "\n", "\r"}


def _parts(text: str) -> list[tuple[str, bool]] | None:
    """(component, was_quoted) for each component of `text`, or None if it is not a name."""
    parts: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == "«":
            j = text.find("»", i + 1)
            if j <= i + 1:
                return None
            parts.append((text[i + 1 : j], True))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _STOP:
                j += 1
            if j == i:
                return None
            parts.append((text[i:j], False))
            i = j
        if i == n:
            return parts
        if text[i] != ".":
            return None
        i += 1


def split_name(text: str) -> Name | None:
    """The components of a name as Lean prints it (`Foo.«a b».c'`), or None."""
    parts = _parts(text)
    return None if parts is None else tuple(c for c, _ in parts)


def is_identifier(text: str) -> bool:
    """Whether `text` is a Lean identifier: dotted components, each plain or `«»`-quoted."""
    parts = _parts(text)
    return parts is not None and all(q or _ATOM.fullmatch(c) for c, q in parts)


def display(name: Name) -> str:
    """`name` as Lean would print it: plain and numeric components bare, others in `«»`."""
    return ".".join(c if _ATOM.fullmatch(c) or c.isdigit() else f"«{c}»" for c in name)


def root_ref(name: Name) -> str:
    """An identifier that resolves to exactly the constant `name`, whatever namespaces are
    open or current: `_root_.«Foo».«bar»`. Raises ValueError if a component cannot be quoted."""
    if not name or any(not c or "»" in c or "\n" in c for c in name):
        raise ValueError(f"cannot write the name {name!r} as a Lean identifier")
    return "_root_." + ".".join(f"«{c}»" for c in name)


def same_constant(printed: Name, expected: Name, *, is_private: bool) -> bool:
    """Whether a name Lean printed is the constant `expected`; a private declaration may
    print with its `_private.<module>.0.` prefix."""
    if printed == expected:
        return True
    if not is_private or printed[:1] != ("_private",):
        return False
    for i, component in enumerate(printed[1:], start=1):
        if component.isdigit():
            return printed[i + 1 :] == expected
    return False
