"""The sentence splitter against Coq's own sentence boundaries (its speed is measured by
bench/coq_check.py, not here).

Coq prints, for `coqc -time`, the byte span of every sentence it ran ("Chars 25 - 32 [...]",
offsets after a byte-order mark). Real standard-library files, and the same files mutated the
ways that fooled the old splitter (`Proof .`, comments between and inside sentences,
`Proof (* c *).`, control prefixes, a byte-order mark, CRLF line ends, bullets without a
space), must split exactly as Coq splits them.

Run: pytest tests/test_coq_sentences.py   (needs Coq 8.16)
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from prover.envs.coq_lex import BOM, source_text
from prover.envs.coq_project import stdlib_theories
from prover.envs.coq_source import split_sentences

FILES = [
    "Bool/Bool.v",
    "Lists/ListDec.v",
    "Arith/Factorial.v",
    "Logic/Decidable.v",
    "Sorting/Permutation.v",
    "Structures/OrdersFacts.v",
]


def coq_spans(path: Path) -> list[tuple[int, int]]:
    """(start, end) byte offsets of every sentence Coq ran in `path`."""
    p = subprocess.run(
        ["coqc", "-q", "-time", "-Q", str(path.parent), "", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        errors="replace",
    )
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    return [(int(a), int(b)) for a, b in re.findall(r"^Chars (\d+) - (\d+) ", p.stdout, re.M)]


def our_spans(raw: str) -> list[tuple[int, int]]:
    """The splitter's sentences as byte offsets into the text after the byte-order mark."""
    text = source_text(raw)
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + len(ch.encode("utf-8")))
    return [(starts[s.start], starts[s.end]) for s in split_sentences(text)]


def _proof_space(text: str) -> str:
    return re.sub(r"(?m)^(\s*)Proof\.", r"\1Proof .", text)


def _comments(text: str) -> str:
    """A comment after every sentence end, and one inside each `Proof.`."""
    text = re.sub(r"(?m)^(\s*)Proof\.", r"\1Proof (* a comment. *).", text)
    return re.sub(r"\.(\s)", r". (* c. (* nested *) *)\1", text)


def _time_prefix(text: str) -> str:
    """`Time` before every tactic sentence of a proof that starts with a common tactic (where
    the splitter says the sentences start: if it is wrong, Coq rejects the mutated file)."""
    tactic = re.compile(r"(intros|simpl|auto|destruct|apply|induction|rewrite)\b")
    inside, cuts = False, []
    for sent in split_sentences(text):
        code = sent.code
        if code.startswith("Proof"):
            inside = True
        elif code in ("Qed.", "Defined."):
            inside = False
        elif inside and tactic.match(code):
            cuts.append(sent.start)
    for start in reversed(cuts):
        text = text[:start] + "Time " + text[start:]
    return text


def _bullets_tight(text: str) -> str:
    return re.sub(r"(?m)^(\s*)([-+*]) (\S)", r"\1\2\3", text)


MUTATIONS: dict[str, Callable[[str], str]] = {
    "original": lambda t: t,
    "proof_space": _proof_space,
    "comments": _comments,
    "time_prefix": _time_prefix,
    "bullets_tight": _bullets_tight,
    "bom_crlf": lambda t: BOM + t.replace("\n", "\r\n"),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("name", FILES)
def test_splitter_agrees_with_coq(name: str, mutation: str, tmp_path: Path, coq_installed) -> None:
    text = MUTATIONS[mutation](stdlib_theories().joinpath(name).read_text(encoding="utf-8"))
    path = tmp_path / "Mut.v"
    path.write_bytes(text.encode("utf-8"))
    ours, coqs = our_spans(text), coq_spans(path)
    first = next((k for k, (a, b) in enumerate(zip(ours, coqs, strict=False)) if a != b), None)
    assert first is None and len(ours) == len(coqs), (
        f"first difference at sentence {first}: ours {ours[first] if first is not None else None}"
        f" vs Coq {coqs[first] if first is not None else None}; {len(ours)} vs {len(coqs)}"
    )
