"""Best-first search on a scripted environment (proof, failure, de-duplication, budgets, tree
invariants) and on real Coq with the portfolio policy.

Run: pytest tests/test_search.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.data import Theorem
from prover.envs import Failed, Progress, ProofState, Proved, TimedOut
from prover.envs.base import Status
from prover.episodes import prove_theorem
from prover.policies import Candidate, TacticPolicy
from prover.policies.portfolio import PortfolioPolicy
from prover.search import SearchConfig, SearchInvariantError, SearchTree, best_first_search


class ScriptedEnv:
    """States are goal texts; `graph[text][tactic]` is the outcome (a text, "QED", "FAIL",
    "TIMEOUT"). Counts calls."""

    def __init__(self, graph: dict[str, dict[str, str]]) -> None:
        self.graph = graph
        self.calls = 0
        self._texts: list[str] = []

    def state(self, text: str) -> ProofState:
        self._texts.append(text)
        return ProofState(text, len(self._texts) - 1, 1)

    def step(self, state: ProofState, tactic: str):
        self.calls += 1
        out = self.graph.get(state.text, {}).get(tactic, "FAIL")
        if out == "QED":
            return Proved(("<path>",))
        if out == "FAIL":
            return Failed("no")
        if out == "TIMEOUT":
            return TimedOut(1.0)
        return Progress(self.state(out))


class FixedPolicy(TacticPolicy):
    name = version = "fixed"
    imports = ()

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def propose(self, state: ProofState) -> list[Candidate]:
        return [Candidate(t, lp) for t, lp in self.table.items()]


def test_finds_proof_in_best_first_order() -> None:
    # G -a-> A (score -1.0) closes at once, but G -b-> B (-0.1) -c-> C (-0.6) scores better
    # all the way: best-first expands G, B, C and proves by b, c, d; any other order (worst
    # first, breadth first, candidate order) expands A and proves by a, d.
    graph = {"G": {"a": "A", "b": "B"}, "A": {"d": "QED"}, "B": {"c": "C"}, "C": {"d": "QED"}}
    env = ScriptedEnv(graph)
    expanded: list[str] = []
    res = best_first_search(
        env,
        FixedPolicy({"a": -1.0, "b": -0.1, "c": -0.5, "d": -0.2}),
        env.state("G"),
        SearchConfig(debug=True),
        on_outcome=lambda s, t, r, dt, src: expanded.append(s.text),
    )
    assert res.status is Status.PROVED and res.expansions == 3
    assert [t for _, t in res.trajectory] == ["b", "c", "d"]
    assert list(dict.fromkeys(expanded)) == ["G", "B", "C"]
    assert res.counts["proved"] == 1


def test_failure_when_tree_is_exhausted() -> None:
    env = ScriptedEnv({"G": {"a": "A", "t": "TIMEOUT"}, "A": {}})
    res = best_first_search(
        env, FixedPolicy({"a": -1.0, "t": -1.0}), env.state("G"), SearchConfig(debug=True)
    )
    assert res.status == "failed" and res.proof == ()
    assert res.counts["timeout"] == 1 and res.counts["failed"] == 2


def test_duplicate_states_are_not_expanded_twice() -> None:
    env = ScriptedEnv({"G": {"a": "A", "b": "A", "c": "G"}, "A": {"a": "G", "b": "A"}})
    res = best_first_search(
        env,
        FixedPolicy({"a": -1.0, "b": -2.0, "c": -3.0}),
        env.state("G"),
        SearchConfig(debug=True),
    )
    assert res.status == "failed" and res.expansions == 2  # G and A only
    assert res.counts["duplicate"] == 4 and res.counts["progress"] == 1


def test_budgets_cut_search_off() -> None:
    chain = {f"S{i}": {"next": f"S{i + 1}"} for i in range(1000)}
    policy = FixedPolicy({"next": -1.0})
    env = ScriptedEnv(chain)
    res = best_first_search(env, policy, env.state("S0"), SearchConfig(max_expansions=5))
    assert res.status == "budget" and res.expansions == 5
    env = ScriptedEnv(chain)
    res = best_first_search(env, policy, env.state("S0"), SearchConfig(max_tactic_calls=7))
    assert res.status == "budget" and res.tactic_calls == 7 == env.calls


class BatchPolicy(FixedPolicy):
    """Records how many states each batched call got."""

    def __init__(self, table: dict[str, float]) -> None:
        super().__init__(table)
        self.batches: list[int] = []

    def propose_batch(self, states: list[ProofState]) -> list[list[Candidate]]:
        self.batches.append(len(states))
        return [self.propose(s) for s in states]


def test_batched_expansion_reports_trajectory_and_every_outcome() -> None:
    graph = {
        "G": {"a": "A", "b": "B", "c": "C"},
        "A": {"x": "A2"},
        "B": {"x": "B2"},
        "C": {"x": "C2"},
        "B2": {"q": "QED"},
    }
    policy = BatchPolicy({"a": -1.0, "b": -1.5, "c": -2.0, "x": -0.1, "q": -0.1})
    env = ScriptedEnv(graph)
    seen: list[tuple[str, str, str]] = []
    res = best_first_search(
        env,
        policy,
        env.state("G"),
        SearchConfig(expand_batch=3, debug=True),
        on_outcome=lambda s, t, r, dt, src: seen.append((s.text, t, type(r).__name__)),
    )
    assert res.status == "proved"
    # the root alone, then A, B, C in one call, then A2, B2, C2
    assert policy.batches == [1, 3, 3]
    assert res.trajectory == (("G", "b"), ("B", "x"), ("B2", "q"))
    assert len(seen) == res.tactic_calls == env.calls
    assert seen[-1] == ("B2", "q", "Proved")


def test_search_config_rejects_bad_budgets() -> None:
    with pytest.raises(ValueError, match="positive"):
        SearchConfig(time_limit_s=0)
    with pytest.raises(ValueError, match="expand_batch"):
        SearchConfig(expand_batch=0)
    with pytest.raises(ValueError, match="positive"):
        SearchConfig(time_limit_s=float("nan"))


def test_length_normalisation_changes_the_order() -> None:
    # Deep path with good per-step scores vs a shallow poor one: normalised search goes deep.
    graph = {"G": {"d": "D1", "s": "S"}, "D1": {"d": "D2"}, "D2": {"d": "QED"}, "S": {"x": "QED"}}
    policy = FixedPolicy({"d": -0.3, "s": -0.5, "x": -2.0})
    env = ScriptedEnv(graph)
    plain = best_first_search(env, policy, env.state("G"), SearchConfig())
    env = ScriptedEnv(graph)
    normed = best_first_search(env, policy, env.state("G"), SearchConfig(length_normalize=True))
    assert plain.expansions != normed.expansions or plain.tactic_calls != normed.tactic_calls


def _tree() -> SearchTree:
    """G expanded into A and B; A expanded into C."""
    tree = SearchTree(ProofState("G", 0, 1), length_normalize=False)
    root = tree.pop()
    assert root is not None
    root.is_expanded = True
    a = tree.add(root, "a", -1.0, ProofState("A", 1, 1))
    tree.add(root, "b", -2.0, ProofState("B", 2, 1))
    assert a is not None and tree.pop() is a
    a.is_expanded = True
    tree.add(a, "c", -0.5, ProofState("C", 3, 1))
    return tree


def test_tree_invariants_hold_and_each_broken_one_is_caught() -> None:
    _tree().check_invariants()  # a tree built through the API is sound

    def broken(change) -> str:  # noqa: ANN001 (a function of the tree)
        tree = _tree()
        change(tree)
        with pytest.raises(SearchInvariantError) as err:
            tree.check_invariants()
        return str(err.value)

    assert "score" in broken(lambda t: setattr(t.nodes["C"], "logprob", -1.0))
    assert "depth" in broken(lambda t: setattr(t.nodes["C"], "depth", 5))
    assert "no parent" in broken(lambda t: setattr(t.nodes["B"], "parent", None))
    assert "unexpanded" in broken(lambda t: setattr(t.nodes["A"], "is_expanded", False))
    assert "frontier" in broken(lambda t: setattr(t.nodes["B"], "is_expanded", True))
    assert "another text" in broken(lambda t: t.nodes.__setitem__("D", t.nodes["C"]))
    assert "root" in broken(lambda t: setattr(t.root, "depth", 1))


def test_portfolio_search_on_real_coq_is_verified(coq_env, user_file: Path) -> None:
    res = prove_theorem(
        coq_env,
        PortfolioPolicy(),
        Theorem(user_file, "and_true"),
        SearchConfig(time_limit_s=30, debug=True),
    )
    assert res.proved and res.status == "proved" and res.proof and res.imports == []
    assert res.search["tactic_calls"] >= 1
    assert coq_env.verify(file=user_file, theorem="and_true", proof=res.proof)


def test_policy_import_that_would_load_the_file_itself_is_dropped(coq_env) -> None:
    from prover.envs.coq_project import stdlib_theories

    bool_v = stdlib_theories() / "Bool" / "Bool.v"  # `Require Import Lia` loads Coq.Bool.Bool
    res = prove_theorem(
        coq_env,
        PortfolioPolicy(),
        Theorem(bool_v, "negb_involutive"),
        SearchConfig(time_limit_s=30),
    )
    assert res.status != "discarded", res.reason
    assert res.imports_dropped and res.imports == []  # it never relied on the leaky import


def test_hammer_policy_proves_through_the_same_path(coq_env, user_file: Path) -> None:
    from prover.doctor import check_hammer
    from prover.policies.hammer import HammerPolicy

    ok, why = check_hammer()
    assert ok, f"CoqHammer is part of `make setup` (as root): {why}"
    res = prove_theorem(
        coq_env,
        HammerPolicy(hammer_timeout_s=4),
        Theorem(user_file, "add_comm'"),
        SearchConfig(time_limit_s=60),
    )
    assert res.proved, res
    assert res.imports and res.imports[0].startswith("From Hammer")


def test_a_hammer_proof_records_the_reconstruction_and_rechecks_without_provers(
    coq_env, tmp_path: Path
) -> None:
    """CoqHammer prints `srun eauto use: in_elt` (which Coq 8.16 does not parse as printed);
    the env records the parenthesised reconstruction, and the proof checks with CoqHammer's
    tactics alone: no prover runs when it is re-checked."""
    from prover.policies.hammer import HammerPolicy

    path = tmp_path / "In.v"
    path.write_text(
        "Require Import List Arith.\n"
        "Lemma in_end (l : list nat) (a : nat) : In a (l ++ a :: nil).\nProof. Admitted.\n"
    )
    policy = HammerPolicy(hammer_timeout_s=20)
    state = coq_env.open(file=path, theorem="in_end", imports=policy.imports)
    # a limit too short for CoqHammer times out; the candidate's own limit is what counts
    assert isinstance(coq_env.step(state, "hammer.", timeout_s=0.3), TimedOut)
    out = coq_env.step(state, "hammer.", timeout_s=60)  # ~10 s on an idle machine
    assert isinstance(out, Proved), out
    (tactic,) = out.proof
    assert tactic != "hammer." and "use:" in tactic, tactic
    verdict = coq_env.verify(
        file=path,
        theorem="in_end",
        proof=list(out.proof),
        imports=["From Hammer Require Import Tactics."],  # no Hammer plugin: no provers
    )
    assert verdict.ok, verdict.reason


def test_coqhammer_reconstruction_text_is_read_as_one_checked_tactic() -> None:
    """What CoqHammer prints is only ever taken as one tactic sentence that `check_tactic`
    accepts; anything else leaves `hammer.` in the proof."""
    from prover.envs.coq import _reconstruction
    from prover.envs.coq_source import check_tactic

    hammer = check_tactic("hammer.")
    recon = _reconstruction(
        [
            "Reconstructing the proof...",
            "Replace the hammer tactic with:\n\tsrun eauto use: in_elt.",
        ],
        hammer,
    )
    assert recon.text == "srun (eauto) use: in_elt."  # parenthesised: Coq 8.16 parses it
    assert _reconstruction(["Replace the hammer tactic with: sfirstorder "], hammer).text == (
        "sfirstorder."
    )
    # a second sentence smuggled into the message is refused: hammer. stays
    for forged in (
        "Replace the hammer tactic with: auto. Admitted.",
        "Replace the hammer tactic with: idtac.\nQed.",
    ):
        assert _reconstruction([forged], hammer) is hammer
    # one sentence that is no tactic is only ever sent as a tactic expression, which Coq
    # refuses to parse (the env then keeps `hammer.`, whose own state it had)
    vernac = _reconstruction(["Replace the hammer tactic with: Axiom x : False."], hammer)
    assert vernac.wrapped == "(Axiom x : False)."
    assert _reconstruction([], hammer) is hammer
    # only a bare `hammer.` is ever replaced
    other = check_tactic("intros; hammer.")
    assert _reconstruction(["Replace the hammer tactic with: sauto."], other) is other
