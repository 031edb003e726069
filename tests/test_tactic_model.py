"""Tests for prover/model/tactic.py: the `transformers` wrapper of the link-editing encoder and
its decoder: save/load round trip, `generate` (greedy, beam, sampling) with scores, learning.

Run: pytest tests/test_tactic_model.py
"""

from __future__ import annotations

import pytest
import torch

from prover.model import config as presets
from prover.model.tactic import TacticConfig, TacticModel, register_auto_classes

VOCAB = 40


@pytest.fixture()
def model() -> TacticModel:
    torch.manual_seed(0)
    return TacticModel(TacticConfig.from_model_config(presets.tiny(vocab_size=VOCAB))).eval()


def batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, VOCAB, (2, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    labels = torch.randint(3, VOCAB, (2, 6), generator=g)
    labels[:, -1] = 2  # eos
    return ids, mask, labels


def test_save_and_load_give_identical_outputs(model, tmp_path):
    ids, mask, labels = batch()
    model.save_pretrained(tmp_path)
    register_auto_classes()
    from transformers import AutoModelForSeq2SeqLM

    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, TacticModel)
    assert loaded.config.model_config == model.config.model_config
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask, labels=labels)
        b = loaded(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
    ga = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, num_beams=3)
    gb = loaded.generate(input_ids=ids, attention_mask=mask, max_new_tokens=5, num_beams=3)
    assert torch.equal(ga, gb)


def test_padding_does_not_change_the_unpadded_example(model):
    ids, mask, labels = batch()
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask, labels=labels).logits[1]
        alone = model(input_ids=ids[1:, :8], labels=labels[1:]).logits[0]
    assert torch.allclose(padded, alone, atol=1e-5)


def test_greedy_generate_follows_the_argmax_of_forward(model):
    ids, mask, _ = batch()
    out = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False,
        output_scores=True, return_dict_in_generate=True,
    )  # fmt: skip
    seq = torch.full((2, 1), model.config.decoder_start_token_id)
    with torch.no_grad():
        for _ in range(4):
            logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=seq).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    n = out.sequences.shape[1]
    assert torch.equal(out.sequences, seq[:, :n])
    assert len(out.scores) == n - 1 and out.scores[0].shape == (2, VOCAB)


def test_beam_and_sampling_return_scored_sequences(model):
    ids, mask, _ = batch()
    beam = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=5, num_beams=4,
        num_return_sequences=4, output_scores=True, return_dict_in_generate=True,
    )  # fmt: skip
    assert beam.sequences.shape[0] == 8 and beam.sequences_scores.shape == (8,)
    per_input = beam.sequences_scores.view(2, 4)
    assert (per_input[:, :-1] >= per_input[:, 1:]).all()  # best first
    assert (beam.sequences_scores <= 0).all()
    torch.manual_seed(0)
    sample = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=5, do_sample=True,
        num_return_sequences=3, output_scores=True, return_dict_in_generate=True,
    )  # fmt: skip
    assert sample.sequences.shape[0] == 6
    logp = model.compute_transition_scores(sample.sequences, sample.scores, normalize_logits=True)
    assert logp.shape == (6, sample.sequences.shape[1] - 1) and (logp <= 0).all()


def test_training_steps_teach_a_tactic(model):
    """A few optimizer steps on one (state, tactic) pair: loss falls and greedy decoding
    reproduces the tactic."""
    ids, mask, labels = batch()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8)
    assert torch.equal(out[:, 1:], labels)


def test_structural_links_change_the_encoding(model):
    ids, mask, labels = batch()
    links = torch.zeros(2, 11, 11)
    links[:, 0, 5] = 4.0
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=mask, labels=labels).logits
        linked = model(input_ids=ids, attention_mask=mask, labels=labels, links=links).logits
    assert not torch.allclose(plain, linked)


def test_too_long_state_is_a_clear_error(model):
    with pytest.raises(ValueError, match="max_positions"):
        model(input_ids=torch.ones(1, 600, dtype=torch.long), labels=torch.ones(1, 2).long())
