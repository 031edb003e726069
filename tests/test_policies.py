"""Tactic policies: the registry (names, backends, options, errors), the baselines' proposals,
and the model policy on real Coq (batched proposals, ranked log-probs, a verified proof
through search).

Run: pytest tests/test_policies.py
"""

from __future__ import annotations

import pytest

from prover.envs import ProofState
from prover.policies import PolicyError, get_policy
from prover.policies.hammer import HammerPolicy
from prover.policies.lean_portfolio import LeanPortfolioPolicy
from prover.policies.portfolio import PortfolioPolicy


def test_registry_builds_each_policy_for_its_backends() -> None:
    assert type(get_policy("portfolio", backend="coq")) is PortfolioPolicy
    assert type(get_policy("portfolio", backend="lean")) is LeanPortfolioPolicy
    assert type(get_policy("portfolio", backend="leandojo")) is LeanPortfolioPolicy
    hammer = get_policy("hammer", backend="coq", hammer_timeout=6.0)
    assert type(hammer) is HammerPolicy and "Set Hammer ATPLimit 3." in hammer.imports
    assert [c.timeout_s for c in hammer.propose(ProofState("x", 0, 1))] == [None, 6.0]
    # options given as None are options not given (the CLI passes every flag)
    assert type(get_policy("portfolio", model=None, num_candidates=None)) is PortfolioPolicy


@pytest.mark.parametrize(
    ("name", "backend", "options", "match"),
    [
        ("oracle", "coq", {}, "unknown policy 'oracle'"),
        ("hammer", "lean", {}, "hammer policy works with --backend coq"),
        ("portfolio", "coq", {"model": "runs/x"}, "--model is only used with --policy model"),
        ("model", "coq", {}, "--policy model needs --model"),
        ("model", "coq", {"model": "m", "beam_width": 3}, "--beam-width is not an option"),
    ],
)
def test_registry_refuses_what_a_policy_does_not_take(name, backend, options, match) -> None:
    with pytest.raises(PolicyError, match=match):
        get_policy(name, backend=backend, **options)


def test_baselines_propose_closers_first_then_structure() -> None:
    coq = ProofState("n : nat\n============================\nforall m : nat, n + m = m + n", 0, 1)
    tactics = [c.tactic for c in PortfolioPolicy().propose(coq)]
    assert tactics[0] == "solve [reflexivity]." and "solve [lia]." in tactics
    assert tactics[-4:] == ["intros.", "induction n.", "simpl.", "split."]
    lps = [c.logprob for c in PortfolioPolicy().propose(coq)]
    assert lps == sorted(lps, reverse=True)
    # the default propose_batch is propose per state, in order
    lean = ProofState("x : ℕ\n⊢ ∀ y, x + y = y + x", 1, 1)
    policy = LeanPortfolioPolicy()
    assert policy.propose_batch([lean, lean]) == [policy.propose(lean)] * 2
    assert "intro h" in [c.tactic for c in policy.propose(lean)]


def test_model_policy_proves_on_real_coq(trained, trace_dir, coq_installed) -> None:
    from prover.data import Theorem
    from prover.envs import get_env
    from prover.episodes import prove_theorem
    from prover.policies.model import ModelPolicy
    from prover.search import SearchConfig

    out, _ = trained
    policy = ModelPolicy(out, num_candidates=4)
    file = trace_dir / "Lemmas.v"
    with get_env("coq", tactic_timeout=2.0) as env:
        root = env.open(file=file, theorem="t_true")
        proposals = policy.propose_batch([root, root])
        assert proposals[0] == proposals[1]  # batching does not change a state's candidates
        assert proposals[0][0].tactic == "trivial."
        lps = [c.logprob for c in proposals[0]]
        assert lps == sorted(lps, reverse=True) and all(lp <= 0 for lp in lps)
        seen = []
        result = prove_theorem(
            env,
            policy,
            Theorem(file, "t_and"),
            SearchConfig(time_limit_s=60, expand_batch=2, debug=True),
            on_outcome=lambda s, t, r, dt, src: seen.append((s.text, t, type(r).__name__)),
        )
    assert result.proved and result.status == "proved", result
    assert result.proof[0] == "split."
    assert [t for _, t in result.steps] == result.proof
    assert seen and seen[-1][2] == "Proved"
