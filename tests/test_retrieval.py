"""The retrieval index and the knn / hybrid policies, without a proof assistant."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy
from prover.policies.hybrid import HybridPolicy, SourceStats, state_kind
from prover.policies.index import StateIndex, head_symbol, hypotheses, rename_tactic
from prover.policies.knn import KnnPolicy
from prover.replay import MIGRATIONS, SCHEMA_VERSION, Outcome, ReplayError, ReplayStore

SEP = "============================"
APP = f"A : Type\nl, l' : list A\nHin : In x l\n{SEP}\nIn x (l ++ l')"
ADD = f"n, m : nat\n{SEP}\nn + m = m + n"
LE = f"n : nat\nH0 : n <= 3\nH1 : 3 <= 5\n{SEP}\nn <= 5"
CONJ = f"P, Q : Prop\nHP : P\nHQ : Q\n{SEP}\nP /\\ Q"
STEPS = [
    (APP, "apply in_or_app; left; exact Hin."),
    (ADD, "apply Nat.add_comm."),
    (LE, "apply (Nat.le_trans _ _ _ H0 H1)."),
    (CONJ, "split; assumption."),
]


def test_an_indexed_state_returns_its_own_tactic_first() -> None:
    index = StateIndex.build(STEPS)
    for state, tactic in STEPS:
        hits = index.query(state, k=4)
        assert hits[0].tactic == tactic
        assert hits[0].score == pytest.approx(1.0)
        assert all(h.score <= hits[0].score for h in hits)


def test_a_renamed_state_maps_hypothesis_names_onto_the_query() -> None:
    index = StateIndex.build(STEPS)
    # the same lemma with other names: H0 -> Hx, H1 -> Hy, n -> k
    query = f"k : nat\nHx : k <= 3\nHy : 3 <= 5\n{SEP}\nk <= 5"
    hits = index.query(query, k=1)
    assert hits[0].tactic == "apply (Nat.le_trans _ _ _ Hx Hy)."
    assert hits[0].score == pytest.approx(1.0)  # local names are not features


def test_renaming_prefers_equal_types_then_positions() -> None:
    indexed = [("H0", "n <= 3"), ("H1", "3 <= 5")]
    swapped = [("Hb", "3 <= 5"), ("Ha", "n <= 3")]
    assert rename_tactic("exact (f H0 H1).", indexed, swapped) == "exact (f Ha Hb)."
    other = [("X", "a"), ("Y", "b")]
    assert rename_tactic("exact (f H0 H1).", indexed, other) == "exact (f X Y)."
    # names that are not hypotheses of the indexed state (new names, constants) stay
    assert rename_tactic("intros H2; apply H0.", indexed, other) == "intros H2; apply X."
    # a qualified name's last part is not a hypothesis
    assert rename_tactic("apply Foo.H0.", indexed, other) == "apply Foo.H0."


def test_hypotheses_and_head_symbols() -> None:
    assert hypotheses(APP) == [
        ("A", "Type"),
        ("l", "list A"),
        ("l'", "list A"),
        ("Hin", "In x l"),
    ]
    assert head_symbol(ADD) == "="
    assert head_symbol(CONJ) == "/\\"
    assert head_symbol(f"{SEP}\nforall n : nat, n = n") == "forall"
    assert head_symbol(f"{SEP}\n(a -> b) /\\ c") == "/\\"
    assert head_symbol(f"{SEP}\nIn x l") == "In"
    assert state_kind(ADD) == "eq" and state_kind(f"{SEP}\nIn x l") == "other"


def test_online_insertion_is_visible_to_the_next_query() -> None:
    index = StateIndex.build(STEPS[:2])
    before = {h.tactic for h in index.query(CONJ, k=16)}
    assert "split; assumption." not in before
    assert index.add([STEPS[3]]) == 1
    assert index.add([STEPS[3]]) == 0  # an exact repeat is kept once
    hits = index.query(CONJ, k=16)
    assert hits[0].tactic == "split; assumption." and hits[0].score == pytest.approx(1.0)


def test_an_empty_index_learns_online() -> None:
    index = StateIndex.build([])
    assert index.query(ADD) == []
    index.add([STEPS[1]])
    assert index.query(ADD)[0].tactic == "apply Nat.add_comm."


def test_hits_are_deduplicated_by_tactic() -> None:
    index = StateIndex.build([(ADD, "lia."), (ADD.replace("m + n", "n + m"), "lia.")])
    assert [h.tactic for h in index.query(ADD)] == ["lia."]


def test_knn_policy_scores_and_learns_only_when_online() -> None:
    state = ProofState(CONJ, 0, 1)
    online = KnnPolicy(StateIndex.build(STEPS[:2]), online=True)
    offline = KnnPolicy(StateIndex.build(STEPS[:2]), online=False)
    for policy in (online, offline):
        policy.learn([STEPS[3]])
    assert online.propose(state)[0] == Candidate("split; assumption.", 0.0, "knn")
    assert all(c.tactic != "split; assumption." for c in offline.propose(state))
    assert all(c.logprob <= 0 and c.source == "knn" for c in online.propose(state))


# --- hybrid ---------------------------------------------------------------------------------


class Fixed(TacticPolicy):
    name = version = "fixed"

    def __init__(self, tactics: list[str], imports: tuple[str, ...] = ()) -> None:
        self.tactics, self.imports = tactics, imports

    def propose(self, state: ProofState) -> list[Candidate]:
        return [Candidate(t, -0.5 * i) for i, t in enumerate(self.tactics)]


class Ranker(Fixed):
    """A stand-in model: generates `tactics`, scores a tactic by -len(tactic)."""

    def score_batch(self, states, candidates):
        return [[-float(len(t)) for t in row] for row in candidates]


def test_source_stats_calibrate_by_kind_and_shrink_to_the_source() -> None:
    rows = [("knn", ADD, True)] * 30 + [("knn", CONJ, False)] * 30 + [("closer", ADD, False)] * 30
    stats = SourceStats.from_outcomes(rows)
    assert stats.counts["knn"] == {"eq": [30, 30], "and": [0, 30]}
    assert stats.rate("knn", "eq") > stats.rate("knn", "and")
    assert stats.rate("knn", "eq") > stats.rate("closer", "eq")
    # an unseen kind gets the source's overall rate
    overall = (30 + 1) / (60 + 10)
    assert stats.rate("knn", "iff") == pytest.approx(overall)
    # no data at all: the prior
    assert SourceStats().rate("hammer", "eq") == pytest.approx(1 / 4)


def test_hybrid_merges_sources_by_calibrated_score_and_puts_hammer_last_at_the_root() -> None:
    closers = Fixed(["solve [auto].", "intros."], ("From Coq Require Import Lia.",))
    knn = KnnPolicy(StateIndex.build(STEPS), online=True)
    stats = SourceStats.from_outcomes([("knn", ADD, True)] * 50 + [("closer", ADD, False)] * 50)
    policy = HybridPolicy(closers=closers, knn=knn, stats=stats, hammer_timeout_s=7.0)
    assert policy.imports[0] == "From Coq Require Import Lia."
    assert "From Hammer Require Import Hammer Tactics." in policy.imports
    assert "Set Hammer ATPLimit 3." in policy.imports
    root = ProofState(ADD, 0, 1)
    policy.begin(root)
    cands = policy.propose(root)
    assert cands[0] == Candidate(cands[0].tactic, cands[0].logprob, "knn")
    assert cands[0].tactic == "apply Nat.add_comm."
    assert [c.logprob for c in cands] == sorted((c.logprob for c in cands), reverse=True)
    assert [(c.tactic, c.source, c.timeout_s) for c in cands[-2:]] == [
        ("sauto.", "hammer", None),
        ("hammer.", "hammer", 7.0),
    ]
    assert len({c.tactic for c in cands}) == len(cands)
    # below the root, CoqHammer is not offered again
    assert not any(c.source == "hammer" for c in policy.propose(ProofState(CONJ, 1, 1)))
    # learning goes to the index
    policy.learn([(f"{SEP}\nTrue", "exact I.")])
    assert policy.propose(ProofState(f"{SEP}\nTrue", 0, 1))[0].tactic == "exact I."


def test_hybrid_without_hammer_and_with_a_ranker() -> None:
    closers = Fixed(["solve [a_very_long_closer].", "simpl."])
    model = Ranker(["x."])
    model.version = "m"
    policy = HybridPolicy(closers=closers, model=model, hammer_timeout_s=None)
    cands = policy.propose(ProofState(ADD, 0, 1))
    assert not any(c.source == "hammer" for c in cands)
    assert {c.source for c in cands} == {"closer", "model"}
    by = {c.tactic: c.logprob for c in cands}
    # the ranker (shorter = likelier) lifts `simpl.` above the source's own first choice
    assert by["simpl."] > by["solve [a_very_long_closer]."]
    assert "hybrid[closer,model:m]" == policy.version


def test_a_tactic_from_two_sources_keeps_its_best_score() -> None:
    closers = Fixed(["apply Nat.add_comm."])
    knn = KnnPolicy(StateIndex.build(STEPS))
    policy = HybridPolicy(closers=closers, knn=knn, hammer_timeout_s=None)
    cands = [c for c in policy.propose(ProofState(ADD, 0, 1)) if c.tactic == "apply Nat.add_comm."]
    assert len(cands) == 1
    closer_only = HybridPolicy(closers=closers, hammer_timeout_s=None).propose(
        ProofState(ADD, 0, 1)
    )
    assert cands[0].logprob >= closer_only[0].logprob
    assert math.isfinite(cands[0].logprob)


# --- the replay store's sources ---------------------------------------------------------------


def test_a_v1_store_upgrades_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO outcomes (theorem, file, state, tactic, kind, new_state, error, time_s, "
        "model_version, round, created_at) VALUES ('t','f','s','auto.','failed',NULL,'e',0.1,"
        "'v',0,0)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with pytest.raises(ReplayError, match="open it writable once"):
        ReplayStore(path, readonly=True)
    with ReplayStore(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = store.conn.execute("SELECT tactic, source FROM outcomes").fetchall()
        assert rows == [("auto.", "")]
        assert store.source_outcomes() == []


def test_source_outcomes_mark_the_steps_of_verified_proofs(tmp_path: Path) -> None:
    def outcome(state: str, tactic: str, kind: str, source: str) -> Outcome:
        return Outcome("t", "f.v", state, tactic, kind, None, None, 0.1, "v", 0, source)

    with ReplayStore(tmp_path / "r.sqlite") as store:
        store.record_outcomes(
            [
                outcome("s0", "intros.", "progress", "closer"),
                outcome("s0", "simpl.", "progress", "knn"),
                outcome("s1", "hammer.", "proved", "hammer"),
                outcome("s9", "auto.", "failed", ""),  # no source: not a hybrid's
            ]
        )
        store.add_proof(
            theorem="t",
            file="f.v",
            tactics=["intros.", "srun (eauto) use: x."],
            steps=[("s0", "intros."), ("s1", "srun (eauto) use: x.")],
            axioms=[],
            time_s=1.0,
            model_version="v",
            round=0,
        )
        assert sorted(store.source_outcomes()) == [
            ("closer", "s0", True),
            ("hammer", "s1", True),  # closed the proof's last state (recorded reconstructed)
            ("knn", "s0", False),
        ]


def test_the_ranker_scores_each_candidate_of_each_state() -> None:
    """Two states, three sources: every candidate must get the model's score of its own text
    (a ranker that scores a tactic by a fixed table shows any mix-up)."""
    table = {"solve [auto].": -9.0, "simpl.": -0.1, "apply Nat.add_comm.": -0.2, "exact I.": -0.3}

    class TableRanker(Fixed):
        seen: list[list[list[str]]] = []

        def score_batch(self, states, candidates):
            self.seen.append([list(row) for row in candidates])
            return [[table.get(t, -5.0) for t in row] for row in candidates]

    closers = Fixed(["solve [auto].", "simpl."])
    knn = KnnPolicy(StateIndex.build([*STEPS, (f"{SEP}\nTrue", "exact I.")]))
    model = TableRanker([])
    model.version = "t"
    policy = HybridPolicy(closers=closers, knn=knn, model=model, hammer_timeout_s=None)
    add, true = ProofState(ADD, 0, 1), ProofState(f"{SEP}\nTrue", 1, 1)
    first, second = policy.propose_batch([add, true])
    (asked,) = model.seen
    assert asked[0][:2] == asked[1][:2] == ["solve [auto].", "simpl."]  # closers first
    assert "apply Nat.add_comm." in asked[0] and "exact I." in asked[1]
    # within the closers, the ranker's preference (simpl. -0.1 vs solve [auto]. -9.0) wins
    for cands in (first, second):
        by = {c.tactic: c.logprob for c in cands}
        assert by["simpl."] > by["solve [auto]."]
    assert first[0].tactic == "apply Nat.add_comm." and second[0].tactic == "exact I."


def test_renaming_refuses_a_collision() -> None:
    # H1 (type B) has no counterpart; H0 (type A) maps onto the query's H1: both would be H1
    indexed = [("H0", "A"), ("H1", "B")]
    assert rename_tactic("exact (f H0 H1).", indexed, [("H1", "A")]) is None


def test_negation_and_match_arrows_are_classed_right() -> None:
    assert head_symbol(f"{SEP}\n~ a = b") == "~"
    assert head_symbol(f"{SEP}\n~ a \\/ b") == "\\/"
    assert head_symbol(f"{SEP}\nmatch n with 0 => True | S _ => False end") == "match"
