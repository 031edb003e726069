"""Tactic policies: the model policy on real Coq (batched proposals, ranked log-probs, a
verified proof through search).

Run: pytest tests/test_policies.py
"""

from __future__ import annotations


def test_model_policy_proves_on_real_coq(trained, trace_dir, coq_installed) -> None:
    from prover.envs import get_env
    from prover.policy import ModelPolicy
    from prover.prove import prove_theorem
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
            file=file,
            theorem="t_and",
            config=SearchConfig(time_limit_s=60, batch_size=2, debug=True),
            on_outcome=lambda s, t, r, dt: seen.append((s.text, t, type(r).__name__)),
        )
    assert result.proved and result.status == "proved", result
    assert result.proof[0] == "split."
    assert [t for _, t in result.steps] == result.proof
    assert seen and seen[-1][2] == "Proved"
