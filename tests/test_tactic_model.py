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


# --- the KV cache and teacher-forced scores ---


def padded_batch():
    """Three states of 11, 8 and 5 tokens (right-padded)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    return ids, mask


def labels_of(sequences: torch.Tensor) -> torch.Tensor:
    """Generated sequences (bos, tokens, eos, pads) -> labels (tokens, eos; -100 after)."""
    labels = sequences[:, 1:].clone()
    is_eos = labels == 2
    after_eos = (is_eos.long().cumsum(1) - is_eos.long()) > 0
    return labels.masked_fill(after_eos, -100)


GENERATE_MODES = {
    "greedy": {"num_beams": 1},
    "beam": {"num_beams": 4, "num_return_sequences": 4, "length_penalty": 0.0},
    "beam_early_stop": {
        "num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.0, "early_stopping": True,
    },
}  # fmt: skip


@pytest.mark.parametrize("mode", GENERATE_MODES)
def test_generate_with_the_kv_cache_equals_generate_without(model, mode):
    ids, mask = padded_batch()
    outs = [
        model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=12,
            use_cache=use_cache,
            output_scores=True,
            return_dict_in_generate=True,
            **GENERATE_MODES[mode],
        )  # fmt: skip
        for use_cache in (False, True)
    ]
    plain, cached = outs
    assert torch.equal(plain.sequences, cached.sequences)
    for a, b in zip(plain.scores, cached.scores, strict=True):
        finite = torch.isfinite(a)
        assert torch.equal(finite, torch.isfinite(b))
        assert torch.allclose(a[finite], b[finite], atol=1e-4)
    if "num_return_sequences" in GENERATE_MODES[mode]:
        assert torch.allclose(plain.sequences_scores, cached.sequences_scores, atol=1e-4)


def test_sampling_with_the_kv_cache_draws_the_same_sequences(model):
    ids, mask = padded_batch()
    outs = []
    for use_cache in (False, True):
        torch.manual_seed(0)
        outs.append(model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=True,
            num_return_sequences=3, use_cache=use_cache,
        ))  # fmt: skip
    assert torch.equal(outs[0], outs[1])


def test_the_cache_computes_cross_attention_keys_once_per_generate(model):
    ids, mask = padded_batch()
    calls = []
    hook = model.decoder[0].kv_cross.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8, num_beams=2,
        )  # fmt: skip
        assert out.shape[1] == 9 and len(calls) == 1
        calls.clear()
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, min_new_tokens=8,
                       num_beams=2, use_cache=False)  # fmt: skip
        assert len(calls) == 8  # once per step without the cache
    finally:
        hook.remove()


def test_a_forward_with_the_cache_continues_a_forward_without(model):
    ids, mask = padded_batch()
    dec = torch.randint(3, VOCAB, (3, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        first = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec[:, :3],
                      use_cache=True)  # fmt: skip
        rest = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec[:, 3:],
                     cache=first.cache)  # fmt: skip
    assert first.cache is not None and rest.cache.get_seq_length() == 7
    assert torch.allclose(torch.cat([first.logits, rest.logits], 1), full, atol=1e-5)
    with torch.no_grad():  # the cache's older name
        first = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec[:, :3],
                      use_cache=True)  # fmt: skip
        rest = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec[:, 3:],
                     past_key_values=first.cache)  # fmt: skip
    assert torch.allclose(torch.cat([first.logits, rest.logits], 1), full, atol=1e-5)


def test_sequence_logprobs_equal_beam_search_scores(model):
    ids, mask = padded_batch()
    out = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=12, num_beams=4,
        num_return_sequences=4, length_penalty=0.0, output_scores=True,
        return_dict_in_generate=True,
    )  # fmt: skip
    with torch.no_grad():
        memory = model.encoder(ids, mask).last_hidden_state
        scores = model.sequence_logprobs(
            memory, mask, labels_of(out.sequences), torch.arange(3).repeat_interleave(4)
        )
    assert scores.dtype == torch.float32 and scores.shape == (12,)
    assert torch.allclose(scores, out.sequences_scores, atol=1e-4), (scores, out.sequences_scores)


def test_sequence_logprobs_of_a_batch_equal_those_one_at_a_time(model, monkeypatch):
    ids, mask = padded_batch()
    g = torch.Generator().manual_seed(3)
    labels = torch.full((5, 6), -100)
    for row, n in enumerate([6, 1, 3, 2, 4]):  # tactics of different lengths
        labels[row, :n] = torch.randint(3, VOCAB, (n,), generator=g)
        labels[row, n - 1] = 2
    owner = torch.tensor([0, 2, 2, 1, 0])
    with torch.no_grad():
        memory = model.encoder(ids, mask).last_hidden_state
        batched = model.sequence_logprobs(memory, mask, labels, owner)
        alone = []
        for row in range(5):
            s = int(owner[row])
            n_state, n_tactic = int(mask[s].sum()), int((labels[row] != -100).sum())
            mem = model.encoder(ids[s : s + 1, :n_state]).last_hidden_state
            alone.append(model.sequence_logprobs(mem, None, labels[row : row + 1, :n_tactic]))
        monkeypatch.setattr("prover.model.tactic._MAX_LOGITS", 2 * 6 * VOCAB)  # 2 rows a chunk
        chunked = model.sequence_logprobs(memory, mask, labels, owner)
    assert torch.allclose(batched, torch.cat(alone), atol=1e-5)
    assert torch.allclose(batched, chunked, atol=1e-6)
    assert model.sequence_logprobs(memory, mask, labels[:0], owner[:0]).shape == (0,)


def test_a_model_saved_without_the_cache_loads_and_generates(model, tmp_path):
    """Models saved before the cache existed: config.json and generation_config.json say
    use_cache false and config.json has no num_hidden_layers."""
    import json

    model.save_pretrained(tmp_path)
    for name in ("config.json", "generation_config.json"):
        cfg = json.loads((tmp_path / name).read_text())
        cfg["use_cache"] = False
        cfg.pop("num_hidden_layers", None)
        (tmp_path / name).write_text(json.dumps(cfg))
    old = TacticModel.from_pretrained(tmp_path).eval()
    assert old.generation_config.use_cache is False
    ids, mask = padded_batch()
    kwargs = {"max_new_tokens": 6, "num_beams": 3, "num_return_sequences": 3,
              "output_scores": True, "return_dict_in_generate": True}  # fmt: skip
    plain = old.generate(input_ids=ids, attention_mask=mask, **kwargs)
    cached = old.generate(input_ids=ids, attention_mask=mask, use_cache=True, **kwargs)
    assert torch.equal(plain.sequences, cached.sequences)
    assert torch.allclose(plain.sequences_scores, cached.sequences_scores, atol=1e-4)
