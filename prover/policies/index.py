"""An online retrieval index over (proof state, tactic) pairs: System 1's explicit memory.

    index = StateIndex.build(steps)           # (state text, tactic) pairs: trace, then replay
    index.query(state_text, k=16)             # [Hit(tactic, score, row)], best first
    index.add([(state_text, tactic), ...])    # a proof verified during the run, usable at once

Features of a state (its first goal, the one a tactic acts on), after Tactician's: the
identifiers and constants of the conclusion (`g:`) and of the hypotheses' types (`h:`), their
bigrams in reading order (`g2:`, `h2:`), and the conclusion's head symbol (`head:`). Local
names (hypotheses, variables) are features only as the placeholder `_` (so `n + 0 = n` and
`m + 0 = m` look alike); hypothesis names are never features.

Weighting and search are scikit-learn's: `HashingVectorizer` turns the feature lists into
counts (2^20 hashed columns, no vocabulary to grow, so online rows need no refit), and
`TfidfTransformer` (sublinear tf, smoothed idf, l2 rows) weights them; the idf is fit once on
the build-time rows and online rows use it. Features in more than a quarter of a large
index's rows (`MAX_DF`) are not searched on. A query is one sparse product with the
transposed matrix: cosine similarity to every row.

A hit's tactic is rewritten for the query state: each hypothesis name of the indexed state
that the tactic uses is mapped to the query state's hypothesis with the same type text, else
to the one in the same position, else left alone (`rename_tactic`). Hits are de-duplicated by
rewritten tactic (the best similarity stays).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SEPARATOR = "============================"
N_FEATURES = 2**20
# Features in more than this share of the build-time rows (and more than MIN_PRUNED_DF rows)
# are not searched on: they say little and cost most of a query's time.
MAX_DF = 0.25
MIN_PRUNED_DF = 1000
# identifiers (qualified too) and the operators Coq prints
_TOKEN_RE = re.compile(
    r"[A-Za-z_][\w']*(?:\.[A-Za-z_][\w']*)*|<->|->|<=|>=|<>|/\\|\\/|::|\+\+|[=<>+*\-~/]"
)
_HYP_RE = re.compile(r"^([\w'][\w', ]*) : (.*(?:\n[ \t]+.*)*)", re.M)
_IDENT_RE = re.compile(r"[A-Za-z_][\w']*")
_WORD_RE = re.compile(r"(?<![\w'.])[A-Za-z_][\w']*(?![\w'])")  # a name, not a qualified part
_BINDERS = ("forall", "exists", "fun")


@dataclass(frozen=True)
class Hit:
    tactic: str
    score: float  # cosine similarity of the states, in [0, 1]
    row: int  # the index row it came from


def first_goal(state: str) -> str:
    return state.split("\n\n")[0]


def hypotheses(state: str) -> list[tuple[str, str]]:
    """(name, type) of each hypothesis of the first goal, in order (`a, b : nat` gives two)."""
    goal = first_goal(state)
    if SEPARATOR not in goal:
        return []
    hyps = goal.split(SEPARATOR)[0]
    out = []
    for m in _HYP_RE.finditer(hyps):
        typ = " ".join(m.group(2).split())
        for name in m.group(1).split(","):
            name = name.strip()
            if _IDENT_RE.fullmatch(name):
                out.append((name, typ))
    return out


def _conclusion(state: str) -> str:
    return first_goal(state).split(SEPARATOR)[-1].strip()


def _local(tokens: list[str], local: set[str]) -> list[str]:
    return ["_" if t in local else t for t in tokens]


def _bound(text: str) -> set[str]:
    """Names bound by `forall`/`exists`/`fun` binders in `text` (placeholders too)."""
    out: set[str] = set()
    for m in re.finditer(r"\b(?:forall|exists|fun)\s+([^,]*?)(?:,|=>)", text):
        out.update(re.findall(r"[A-Za-z_][\w']*", m.group(1).split(":")[0]))
        for part in re.findall(r"\(([^:()]*):", m.group(1)):
            out.update(re.findall(r"[A-Za-z_][\w']*", part))
    return out


def head_symbol(state: str) -> str:
    """The conclusion's head: `forall`, `->`, `=`, `/\\`, `~`, a constant's name, ..."""
    concl = _conclusion(state)
    for binder in _BINDERS:
        if concl.startswith(binder + " "):
            return binder
    depth = 0
    best: tuple[int, str] | None = None  # lowest-precedence infix at depth 0
    precedence = {"<->": 0, "->": 1, "\\/": 2, "/\\": 3, "=": 4, "<>": 4, "<=": 4, "<": 4}
    for m in re.finditer(r"[()]|<->|->|\\/|/\\|<>|<=|=(?!>)|<", concl):
        tok = m.group(0)
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif depth == 0 and (best is None or precedence[tok] < precedence[best[1]]):
            best = (precedence[tok], tok)
    # `~` (level 75) binds tighter than /\, \/, ->, <-> and looser than =, <>, <=, <
    if concl.startswith("~") and (best is None or best[0] >= 4):
        return "~"
    if best is not None:
        return best[1]
    first = _TOKEN_RE.search(concl)
    return first.group(0) if first else ""


def state_features(state: str) -> list[str]:
    """The features of a state (see the module docstring)."""
    hyps = hypotheses(state)
    concl = _conclusion(state)
    local = {n for n, _ in hyps} | _bound(concl) | {b for _, t in hyps for b in _bound(t)}
    goal = _local(_TOKEN_RE.findall(concl), local)
    feats = [f"g:{t}" for t in goal if t not in _BINDERS]
    feats += [f"g2:{a} {b}" for a, b in zip(goal, goal[1:], strict=False)]
    for _, typ in hyps:
        toks = _local(_TOKEN_RE.findall(typ), local)
        feats += [f"h:{t}" for t in toks if t not in _BINDERS]
        feats += [f"h2:{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
    feats.append(f"head:{head_symbol(state)}")
    return feats


def names_used(tactic: str, hyps: Sequence[tuple[str, str]]) -> list[str]:
    """The hypothesis names in `hyps` that `tactic` mentions as whole words."""
    words = set(_WORD_RE.findall(tactic))
    return [n for n, _ in hyps if n in words]


def rename_tactic(
    tactic: str,
    indexed: Sequence[tuple[str, str]],
    query: Sequence[tuple[str, str]],
    used: Sequence[str] | None = None,
) -> str | None:
    """`tactic`, written for a state with hypotheses `indexed`, with each of those names it
    uses (`used`, computed when not given) mapped onto `query`'s hypotheses: same type text
    first, else same position, else unchanged; None when an unchanged name would collide
    with a mapped one."""
    if used is None:
        used = names_used(tactic, indexed)
    if not used:
        return tactic
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    by_name = dict(indexed)
    for name in used:  # same type
        for qname, qtype in query:
            if qname not in taken and qtype == by_name[name]:
                mapping[name] = qname
                taken.add(qname)
                break
    positions = {n: i for i, (n, _) in enumerate(indexed)}
    for name in used:  # same position
        if name in mapping:
            continue
        i = positions[name]
        if i < len(query) and query[i][0] not in taken:
            mapping[name] = query[i][0]
            taken.add(query[i][0])
    unmapped = {n for n in used if n not in mapping}
    if unmapped & set(mapping.values()):
        return None  # a name left as it is would now mean another hypothesis
    mapping = {a: b for a, b in mapping.items() if a != b}
    if not mapping:
        return tactic
    pattern = re.compile(
        r"(?<![\w'.])("
        + "|".join(re.escape(n) for n in sorted(mapping, key=len, reverse=True))
        + r")(?![\w'])"
    )
    return pattern.sub(lambda m: mapping[m.group(1)], tactic)


class StateIndex:
    """Retrieval over (state, tactic) pairs (see the module docstring)."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(
            analyzer=state_features,
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
        )
        self._base_t: Any = None  # (features x rows) of the build-time rows, CSR
        self._idf: Any = None  # idf of each feature searched on, else 0 (numpy, N_FEATURES)
        self._online: Any = None  # (rows x features) of rows added since, CSR
        self._online_t: Any = None
        self.tactics: list[str] = []
        # hypotheses of a row's state, kept only when its tactic names one of them
        self._hyps: dict[int, tuple[list[tuple[str, str]], list[str]]] = {}
        self._seen: set[tuple[str, str]] = set()
        self.num_base = 0

    @classmethod
    def build(cls, steps: Iterable[tuple[str, str]]) -> StateIndex:
        """An index over `steps` ((state text, tactic) pairs; exact repeats kept once)."""
        from sklearn.feature_extraction.text import TfidfTransformer

        index = cls()
        states, tactics = index._new_rows(steps)
        counts = index._vectorizer.transform(states) if states else None
        if counts is not None:
            idf = TfidfTransformer(sublinear_tf=True).fit(counts).idf_
            df = np.bincount(counts.indices, minlength=N_FEATURES)
            keep = df <= max(MAX_DF * len(states), MIN_PRUNED_DF)
            index._idf = np.zeros(N_FEATURES)
            index._idf[: len(idf)] = np.where(keep[: len(idf)], idf, 0.0)
            index._base_t = index._weigh(counts).T.tocsr()
        index.tactics = tactics
        index.num_base = len(tactics)
        return index

    def __len__(self) -> int:
        return len(self.tactics)

    def _new_rows(self, steps: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
        states: list[str] = []
        tactics: list[str] = []
        for state, tactic in steps:
            if (state, tactic) in self._seen or not tactic.strip():
                continue
            self._seen.add((state, tactic))
            row = len(self.tactics) + len(tactics)
            hyps = hypotheses(state)
            used = names_used(tactic, hyps)
            if used:
                self._hyps[row] = (hyps, used)
            states.append(state)
            tactics.append(tactic)
        return states, tactics

    def add(self, steps: Iterable[tuple[str, str]]) -> int:
        """Index more pairs now (a proof verified during the run); returns how many were new."""
        import scipy.sparse as sp

        states, tactics = self._new_rows(steps)
        if not states:
            return 0
        rows = self._weigh(self._vectorizer.transform(states))
        self._online = rows if self._online is None else sp.vstack([self._online, rows]).tocsr()
        self._online_t = self._online.T.tocsr()
        self.tactics += tactics
        return len(states)

    def _weigh(self, counts: Any) -> Any:
        """Sublinear tf times the build-time idf (0 for features not searched on), l2 rows."""
        from sklearn.preprocessing import normalize

        tf = counts.astype(np.float64)
        tf.data = 1.0 + np.log(tf.data)
        if self._idf is not None:
            tf.data *= self._idf[tf.indices]
            tf.eliminate_zeros()
        return normalize(tf)

    def similarities(self, states: Sequence[str]) -> Any:
        """(queries x rows) cosine similarities, sparse (rows sharing no feature are absent)."""
        import scipy.sparse as sp

        q = self._weigh(self._vectorizer.transform(list(states)))
        parts = []
        if self._base_t is not None:
            parts.append(q @ self._base_t)
        if self._online_t is not None:
            parts.append(q @ self._online_t)
        if not parts:
            return sp.csr_matrix((len(states), 0))
        return sp.hstack(parts).tocsr() if len(parts) > 1 else parts[0].tocsr()

    def query(self, state: str, k: int = 16, neighbours: int = 64) -> list[Hit]:
        return self.query_batch([state], k, neighbours)[0]

    def query_batch(
        self, states: Sequence[str], k: int = 16, neighbours: int = 64
    ) -> list[list[Hit]]:
        """For each state: the tactics of its `neighbours` nearest rows, renamed for it and
        de-duplicated, the best `k` by similarity."""
        sims = self.similarities(states)
        out = []
        for i, state in enumerate(states):
            lo, hi = sims.indptr[i], sims.indptr[i + 1]
            rows, scores = sims.indices[lo:hi], sims.data[lo:hi]
            if len(rows) > neighbours:
                top = np.argpartition(-scores, neighbours)[:neighbours]
                rows, scores = rows[top], scores[top]
            order = np.lexsort((rows, -scores))  # best first, ties by row (build order)
            query_hyps: list[tuple[str, str]] | None = None
            best: dict[str, Hit] = {}
            for j in order:
                row, score = int(rows[j]), float(scores[j])
                tactic = self.tactics[row]
                if row in self._hyps:
                    if query_hyps is None:
                        query_hyps = hypotheses(state)
                    hyps, used = self._hyps[row]
                    renamed = rename_tactic(tactic, hyps, query_hyps, used)
                    if renamed is None:
                        continue
                    tactic = renamed
                if tactic not in best:
                    best[tactic] = Hit(tactic, min(score, 1.0), row)
                    if len(best) == k:
                        break
            out.append(list(best.values()))
        return out
