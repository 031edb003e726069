"""Tests for prover/policies/model.py: `ModelPolicy` on a tiny model trained for a few seconds
on four (state, tactic) pairs: teacher-forced scores (`score_batch`) against beam search's,
batching, and distinct candidates.

Run: pytest tests/test_model_policy.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prover.envs.base import ProofState
from prover.model.artifact import save_model
from prover.model.config import EncoderConfig, ModelConfig
from prover.model.tactic import TacticConfig, TacticModel
from prover.policies.base import Candidate
from prover.policies.model import ModelPolicy, best_distinct, tactic_key
from prover.tokenizer import train_tokenizer

PAIRS = [
    ("n : nat\n============================\nn + 0 = n", "intros n."),
    ("============================\nTrue", "trivial."),
    ("P : Prop\nH : P\n============================\nP", "exact H."),
    ("n, m : nat\n============================\nn + m = m + n", "apply Nat.add_comm."),
]
STATES = [ProofState(text, i, 1) for i, (text, _) in enumerate(PAIRS)]
MAX_TACTIC = 24


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model (one recurrence step) trained 25 steps on PAIRS, saved as a model folder.
    The tokenizer is nearly all single characters, so generated tactics re-encode to the
    tokens that produced them."""
    root = tmp_path_factory.mktemp("model_policy")
    tok = train_tokenizer([t for pair in PAIRS for t in pair] * 10, root / "tok", vocab_size=200)
    torch.manual_seed(0)
    enc = EncoderConfig(d_model=32, num_heads=2, d_ff=64, num_layers=1, num_steps=1, pointer_dim=8)
    mc = ModelConfig(encoder=enc, vocab_size=len(tok), decoder_layers=2, max_positions=64,
                     max_target_positions=MAX_TACTIC)  # fmt: skip
    model = TacticModel(TacticConfig.from_model_config(mc))
    states = [tok.encode_state(s, 64) for s, _ in PAIRS]
    tactics = [tok.encode_tactic(t, MAX_TACTIC) for _, t in PAIRS]
    ids = torch.zeros(len(PAIRS), max(map(len, states)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full((len(PAIRS), max(len(t or []) for t in tactics)), -100)
    for i, (s, t) in enumerate(zip(states, tactics, strict=True)):
        assert t is not None
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
        labels[i, : len(t)] = torch.tensor(t)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(25):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_model(model.eval(), tok, root / "model", {"max_state_tokens": 64})
    return root / "model"


@pytest.fixture()
def policy(model_dir: Path) -> ModelPolicy:
    return ModelPolicy(model_dir, num_candidates=4, device="cpu")


def beam(policy: ModelPolicy, states: list[ProofState], n: int):  # noqa: ANN201
    ids, mask = policy.encode_states(states)
    return policy.model.generate(
        input_ids=ids, attention_mask=mask, num_beams=n, num_return_sequences=n,
        length_penalty=0.0, early_stopping=True, use_cache=True, output_scores=True,
        return_dict_in_generate=True,
    )  # fmt: skip


def test_score_batch_equals_beam_search_scores(policy):
    """Teacher forcing and beam search are independent code paths; on tactics whose text
    re-encodes to the generated tokens they must agree."""
    out = beam(policy, STATES, 6)
    checked = 0
    for i, state in enumerate(STATES):
        tactics, expected = [], []
        for j in range(i * 6, (i + 1) * 6):
            seq = out.sequences[j].tolist()
            body = seq[1 : seq.index(2) + 1] if 2 in seq else seq[1:]  # tokens, eos
            text = policy.tokenizer.decode_tactic(seq)
            if policy.tactic_labels(text) == body:
                tactics.append(text)
                expected.append(out.sequences_scores[j].item())
        assert tactics, f"no generated tactic of state {i} re-encodes to its tokens"
        [scores] = policy.score_batch([state], [tactics])
        assert scores == pytest.approx(expected, abs=1e-4)
        checked += len(tactics)
    assert checked >= 12


def test_score_batch_of_a_batch_equals_one_state_at_a_time(policy):
    long = "apply " + " ".join(["Nat.add_comm"] * 10) + "."  # longer than the decoder holds
    candidates = [
        ["intros n.", "trivial.", "intros   n .", long],
        [],
        ["exact H."],
        ["apply Nat.add_comm.", "", "auto with *; ☃."],  # empty text; unseen characters
    ]
    batched = policy.score_batch(STATES, candidates)
    alone = [policy.score_batch([s], [c])[0] for s, c in zip(STATES, candidates, strict=True)]
    assert [len(c) for c in batched] == [4, 0, 1, 3]
    for got, want in zip(batched, alone, strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    flat = [x for row in batched for x in row]
    assert all(torch.isfinite(torch.tensor(x)) and x <= 0 for x in flat)
    assert len(policy.tactic_labels(long)) == MAX_TACTIC  # the prefix that fits, no eos


def test_score_batch_of_nothing_is_empty(policy):
    assert policy.score_batch([], []) == []
    assert policy.score_batch(STATES[:2], [[], []]) == [[], []]
    with pytest.raises(ValueError, match="candidate lists"):
        policy.score_batch(STATES[:2], [["trivial."]])


def test_tactic_key_and_best_distinct():
    assert tactic_key("  intros   n .\n") == "intros n"
    assert tactic_key("intros n") == tactic_key("intros n.") == "intros n"
    assert tactic_key("simpl; auto.") != tactic_key("simpl. auto.")
    got = best_distinct(["auto.", " auto", "", "  ", "simpl.", "simpl .", "lia."],
                        [-3.0, -1.0, 0.0, 0.0, -2.0, -0.5, -4.0], 2)  # fmt: skip
    assert got == [Candidate("simpl .", -0.5, "model"), Candidate("auto", -1.0, "model")]


@pytest.mark.parametrize("decoding", ["beam", "sample"])
def test_propose_returns_k_distinct_candidates(model_dir, decoding):
    torch.manual_seed(0)
    policy = ModelPolicy(model_dir, num_candidates=4, decoding=decoding, device="cpu")
    assert policy.num_generated == 8
    proposals = policy.propose_batch(STATES)
    assert [len(p) for p in proposals] == [4] * len(STATES)
    for p in proposals:
        keys = [tactic_key(c.tactic) for c in p]
        assert len(set(keys)) == len(keys)
        lps = [c.logprob for c in p]
        assert lps == sorted(lps, reverse=True) and all(lp <= 0 for lp in lps)
    assert policy.propose_batch([]) == []


class FirstWord:
    """A tokenizer whose tactics are the first word of the real one's, spaced two ways: most
    beams collide after `tactic_key`."""

    def __init__(self, tok) -> None:  # noqa: ANN001
        self.tok = tok

    def encode_state(self, text: str, max_tokens: int) -> list[int]:
        return self.tok.encode_state(text, max_tokens)

    def decode_tactic(self, ids) -> str:  # noqa: ANN001
        words = self.tok.decode_tactic(ids).split()
        word = words[0].rstrip(".") if words else ""
        return f" {word} ." if sum(ids) % 2 else f"{word}."


def test_propose_never_returns_two_candidates_equal_after_normalisation(policy):
    policy.tokenizer = FirstWord(policy.tokenizer)
    out = beam(policy, STATES, policy.num_generated)
    proposals = policy.propose_batch(STATES)
    n = policy.num_generated
    for i, p in enumerate(proposals):
        seqs = out.sequences[i * n : (i + 1) * n].tolist()
        texts = [policy.tokenizer.decode_tactic(s) for s in seqs]
        keys = {tactic_key(t) for t in texts} - {""}
        assert len(texts) > len(keys)  # the beams collided
        assert len({tactic_key(c.tactic) for c in p}) == len(p) == min(4, len(keys))
        best = max(range(n), key=lambda j: out.sequences_scores[i * n + j].item())
        assert tactic_key(p[0].tactic) == tactic_key(texts[best])
