"""The proof corpus introspection mines: verified proofs as canonical tactic trees.

Sources: the theorems of a trace's training split (never val/test: held-out proofs must not
shape the library) and the verified proofs of a replay store. A proof enters only when every
one of its sentences parses (`coq_ltac.parse_tactic`) and its recorded steps chain from the
statement to "no goals" (each step starts where the previous one ended), so the tactics
alone replay it; anything else is skipped and counted by reason, never guessed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prover.data import DataFormatError, check_trace
from prover.envs.coq_ltac import LtacParseError, Tactic, canonicalise, local_names, parse_tactic
from prover.envs.coq_project import coqlib


@dataclass(frozen=True)
class Proof:
    theorem: str  # the name `env.open` takes (qualified within its file)
    full_name: str
    file: Path
    sentences: tuple[str, ...]  # the tactics as written, each ending in '.'
    trees: tuple[Tactic, ...]  # canonical: local names are h0, h1, ...
    names: dict[str, str] = field(compare=False)  # canonical -> original local name


@dataclass
class Corpus:
    proofs: list[Proof] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def num_sentences(self) -> int:
        return sum(len(p.trees) for p in self.proofs)

    def summary(self) -> dict[str, object]:
        """`library.json`'s "corpus": proofs, sentences, and what was skipped, by reason."""
        return {
            "proofs": len(self.proofs),
            "sentences": self.num_sentences,
            "skipped": dict(sorted(self.skipped.items())),
        }

    def add(
        self,
        theorem: str,
        full_name: str,
        file: Path,
        steps: list[tuple[str, str, str | None]],
    ) -> None:
        """Add one proof from its (state before, tactic, state after or None) steps."""
        made = _proof(theorem, full_name, file, steps)
        if isinstance(made, str):
            self.skipped[made] += 1
        else:
            self.proofs.append(made)

    def replace(self, k: int, sentences: Sequence[str], states: Sequence[str]) -> None:
        """Put a verified shorter proof of the same theorem (each sentence with the state
        before it) in place of proof `k`; kept as it was if it does not parse."""
        old = self.proofs[k]
        steps: list[tuple[str, str, str | None]] = [
            (before, tactic, after)
            for before, tactic, after in zip(
                states, sentences, [*states[1:], "no goals"], strict=True
            )
        ]
        made = _proof(old.theorem, old.full_name, old.file, steps)
        if not isinstance(made, str):
            self.proofs[k] = made


def _proof(
    theorem: str, full_name: str, file: Path, steps: list[tuple[str, str, str | None]]
) -> Proof | str:
    """The proof of these steps, or why it cannot be one."""
    if not steps:
        return "no tactics"
    chained = all(a == b for (_, _, a), (b, _, _) in zip(steps, steps[1:], strict=False))
    last = steps[-1][2]
    if not chained or last not in (None, "no goals"):
        return "steps do not chain into a whole proof"
    try:
        trees = [parse_tactic(tactic) for _, tactic, _ in steps]
    except LtacParseError as e:
        return f"unreadable tactic ({_kind(e)})"
    local: set[str] = set()
    for before, _, after in steps:
        local |= local_names(before) | local_names(after or "")
    canon, names = canonicalise(trees, local)
    sentences = tuple(t if t.rstrip().endswith(".") else t + "." for _, t, _ in steps)
    return Proof(theorem, full_name, file, sentences, tuple(canon), names)


def _kind(e: LtacParseError) -> str:
    text = str(e)
    return text.split(",")[0] if "unbalanced" in text or "unclosed" in text else text[:40]


def from_trace(
    data_dir: Path, split: str = "novel_files/train", corpus: Corpus | None = None
) -> Corpus:
    """The proofs of a trace's training split, to mine (held-out splits are refused)."""
    if split.split("/")[-1] != "train":
        raise ValueError(f"introspection mines training proofs only, not {split!r}")
    return read_split(data_dir, split, corpus)


def read_split(data_dir: Path, split: str, corpus: Corpus | None = None) -> Corpus:
    """The proofs of any trace split (held-out ones too: to measure, never to mine) of a
    trace `check_trace` accepts."""
    check_trace(data_dir)
    path = data_dir / f"{split}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: trace first (`springtail trace --backend coq --out {data_dir}`)"
        )
    corpus = corpus or Corpus()
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        for rec in records:
            file = Path(rec["file_path"])
            file = file if file.is_absolute() else coqlib() / file
            steps = [
                (s["state_before"], s["tactic"], s["state_after"]) for s in rec["traced_tactics"]
            ]
            corpus.add(rec["theorem"], rec["full_name"], file, steps)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise DataFormatError(f"{path}: not a trace split ({type(e).__name__}: {e})") from None
    return corpus


def from_replay(path: Path, corpus: Corpus | None = None) -> Corpus:
    """The verified proofs of a replay store (their steps carry the state before each)."""
    from prover.replay import ReplayStore

    corpus = corpus or Corpus()
    with ReplayStore(path, readonly=True) as store:
        for p in store.proofs():
            steps = [(state, tactic, None) for state, tactic in p["steps"]]
            chained = [(b, t, nxt[0]) for (b, t, _), nxt in zip(steps, steps[1:], strict=False)]
            corpus.add(p["theorem"], p["theorem"], Path(p["file"]), [*chained, *steps[-1:]])
    return corpus
