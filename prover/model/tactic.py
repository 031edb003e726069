"""The tactic model: proof-state tokens -> link-editing encoder -> small causal decoder with
cross-attention -> tactic tokens, as a `transformers` `PreTrainedModel`.

`TacticModel.save_pretrained` / `from_pretrained` and `generate` (greedy, beam search, sampling,
`output_scores=True`) work as for any `transformers` encoder-decoder. One token embedding (owned
by the encoder) serves the encoder and the decoder: states and tactics share one vocabulary.

The decoder keeps a KV cache (`transformers`' `EncoderDecoderCache`, passed as `cache`): each
generated token runs the decoder on that token alone, against the cached self-attention keys
and values, and the cross-attention keys and values of the encoder output are computed once
per `generate` call (beam search reorders the self-attention cache with the beams; the
cross-attention one is the same for all beams of an input). It is on by default
(`use_cache=True`); models saved before it existed say `use_cache: false` in their
`generation_config.json` and load and generate as saved (pass `use_cache=True` to
`generate` for the cache). `sequence_logprobs` scores given tactics by teacher forcing: one
decoder pass over all of them, no generation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationConfig, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from prover.model.config import EncoderConfig, ModelConfig
from prover.model.encoder import LinkEditingEncoder


class TacticConfig(PretrainedConfig):
    """`transformers` config holding a `ModelConfig` as plain JSON fields."""

    model_type = "springtail_tactic"

    def __init__(self, model: dict[str, Any] | None = None, **kwargs: Any) -> None:
        model = dict(model or {})
        self.model = model
        mc = self.model_config  # validates
        kwargs.setdefault("pad_token_id", mc.pad_token_id)
        kwargs.setdefault("bos_token_id", mc.bos_token_id)
        kwargs.setdefault("eos_token_id", mc.eos_token_id)
        kwargs.setdefault("decoder_start_token_id", mc.bos_token_id)
        kwargs.setdefault("is_encoder_decoder", True)
        kwargs.setdefault("tie_word_embeddings", False)
        kwargs.setdefault("use_cache", True)
        super().__init__(**kwargs)
        self.vocab_size = mc.vocab_size
        self.hidden_size = mc.encoder.d_model
        self.num_hidden_layers = mc.decoder_layers  # read by DynamicCache(config=...)

    @classmethod
    def from_model_config(cls, mc: ModelConfig, **kwargs: Any) -> TacticConfig:
        return cls(model=dataclasses.asdict(mc), **kwargs)

    @property
    def model_config(self) -> ModelConfig:
        fields = dict(self.model)
        enc = EncoderConfig(**fields.pop("encoder", {}))
        return ModelConfig(encoder=enc, **fields)


class TacticEncoder(nn.Module):
    """input_ids (B, N) [+ links] -> BaseModelOutput(last_hidden_state (B, N, d))."""

    main_input_name = "input_ids"  # read by `generate`

    def __init__(self, mc: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(mc.vocab_size, mc.encoder.d_model, padding_idx=mc.pad_token_id)
        self.pos = nn.Embedding(mc.max_positions, mc.encoder.d_model)
        self.core = LinkEditingEncoder(mc.encoder)
        self.max_positions = mc.max_positions

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        links: torch.Tensor | None = None,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> BaseModelOutput:
        B, N = input_ids.shape
        if N > self.max_positions:
            raise ValueError(
                f"proof state has {N} tokens, more than max_positions={self.max_positions}; "
                "truncate it or use a config with more positions"
            )
        x = self.embed(input_ids) + self.pos(torch.arange(N, device=input_ids.device))
        kpm = None if attention_mask is None else attention_mask == 0  # True = padding
        out = self.core(x, key_padding_mask=kpm, links=links)
        return BaseModelOutput(last_hidden_state=out.last_hidden_state)


KV = tuple[torch.Tensor, torch.Tensor]  # attention keys and values, each (B, H, N, Dh)
_MAX_LOGITS = 1 << 25  # floats of logits per `sequence_logprobs` chunk (128 MiB in float32)


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the encoder, MLP."""

    def __init__(self, d: int, num_heads: int, d_ff: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.self_out = nn.Linear(d, d)
        self.q_cross = nn.Linear(d, d)
        self.kv_cross = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Linear(d_ff, d))

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        B, N, d = t.shape
        return t.view(B, N, self.num_heads, d // self.num_heads).transpose(1, 2)  # (B, H, N, Dh)

    def merge(self, t: torch.Tensor) -> torch.Tensor:
        B, H, N, Dh = t.shape
        return t.transpose(1, 2).reshape(B, N, H * Dh)  # (B, N, d)

    def cross_kv(self, memory: torch.Tensor) -> KV:
        """memory (B, N, d) -> the cross-attention keys and values, each (B, H, N, Dh)."""
        k, v = (self.heads(t) for t in self.kv_cross(memory).chunk(2, dim=-1))
        return k, v

    def forward(
        self,
        y: torch.Tensor,
        cross: KV,
        memory_mask: torch.Tensor | None,
        cache: DynamicCache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        """y (B, M, d): the M newest positions; `cache` holds the earlier ones' keys/values."""
        q, k, v = (self.heads(t) for t in self.qkv(self.norm1(y)).chunk(3, dim=-1))
        past = 0
        if cache is not None:
            past = cache.get_seq_length(layer_idx)  # before the update adds these M positions
            k, v = cache.update(k, v, layer_idx)
        y = y + self.self_out(self.merge(causal_attention(q, k, v, past)))
        q = self.heads(self.q_cross(self.norm2(y)))
        attn = F.scaled_dot_product_attention(q, *cross, attn_mask=memory_mask)
        y = y + self.cross_out(self.merge(attn))
        return y + self.mlp(self.norm3(y))


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int) -> torch.Tensor:
    """q (B, H, M, Dh) at positions past..past+M-1, k/v (B, H, past+M, Dh) -> (B, H, M, Dh)."""
    M = q.shape[2]
    if past == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if M == 1:  # one new token sees every cached one
        return F.scaled_dot_product_attention(q, k, v)
    rows = torch.arange(past, past + M, device=q.device)[:, None]  # (M, 1)
    allowed = torch.arange(past + M, device=q.device)[None, :] <= rows  # (M, past+M)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


class TacticModel(PreTrainedModel, GenerationMixin):
    """Proof state -> tactic. `forward` returns `Seq2SeqLMOutput` (loss when `labels` given)."""

    config_class = TacticConfig
    base_model_prefix = "springtail"
    main_input_name = "input_ids"

    def __init__(self, config: TacticConfig) -> None:
        super().__init__(config)
        mc = config.model_config
        d = mc.encoder.d_model
        self.encoder = TacticEncoder(mc)
        self.dec_pos = nn.Embedding(mc.max_target_positions, d)
        self.decoder = nn.ModuleList(
            DecoderLayer(d, mc.encoder.num_heads, mc.encoder.d_ff) for _ in range(mc.decoder_layers)
        )
        self.dec_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, mc.vocab_size, bias=False)
        self.max_target_positions = mc.max_target_positions
        self.post_init()
        self.generation_config = GenerationConfig(
            pad_token_id=mc.pad_token_id,
            bos_token_id=mc.bos_token_id,
            eos_token_id=mc.eos_token_id,
            decoder_start_token_id=mc.bos_token_id,
            use_cache=True,
            max_new_tokens=mc.max_target_positions - 1,
        )

    def _init_weights(self, module: nn.Module) -> None:
        # Linear layers keep PyTorch's default init, and the link writer's gate its zero init.
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def get_encoder(self, modality: str | None = None) -> TacticEncoder:
        return self.encoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed

    @torch.no_grad()
    def grow_vocabulary(self, size: int) -> None:
        """Grow the vocabulary to `size` ids (new tokens appended, e.g. a library's program
        names): the embedding and output rows of existing ids are kept, each new row starts
        as the mean of the existing ones (a new token is scored like an average one until
        training moves it)."""
        old = self.encoder.embed.num_embeddings
        if size < old:
            raise ValueError(f"cannot shrink the vocabulary from {old} to {size}")
        if size == old:
            return
        embed, head = self.encoder.embed, self.lm_head
        new_embed = nn.Embedding(size, embed.embedding_dim, padding_idx=embed.padding_idx)
        new_head = nn.Linear(head.in_features, size, bias=False)
        new_embed.to(embed.weight.device, embed.weight.dtype)
        new_head.to(head.weight.device, head.weight.dtype)
        new_embed.weight[:old] = embed.weight
        new_embed.weight[old:] = embed.weight.mean(0)
        new_head.weight[:old] = head.weight
        new_head.weight[old:] = head.weight.mean(0)
        self.encoder.embed, self.lm_head = new_embed, new_head
        self.config.model = {**self.config.model, "vocab_size": size}
        self.config.vocab_size = size

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        memory: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: EncoderDecoderCache | None = None,
    ) -> torch.Tensor:
        """decoder_input_ids (B, M), memory (B, N, d) -> logits (B, M, vocab). With `cache`,
        the M ids follow the cached positions, and the cross-attention keys/values come from
        the cache once it holds them (from `memory` on the first call)."""
        return self._decode(
            decoder_input_ids, self._cross(memory, cache), memory_mask(attention_mask), cache
        )

    def cross_kvs(self, memory: torch.Tensor) -> list[KV]:
        """memory (B, N, d) -> each decoder layer's cross-attention keys and values."""
        return [cast(DecoderLayer, layer).cross_kv(memory) for layer in self.decoder]

    def _cross(self, memory: torch.Tensor, cache: EncoderDecoderCache | None) -> list[KV]:
        """Each layer's cross-attention keys/values: computed once, then read from `cache`."""
        num_layers = len(self.decoder)
        if cache is not None and all(cache.is_updated.get(i) for i in range(num_layers)):
            layers: list[Any] = cache.cross_attention_cache.layers  # DynamicLayer: .keys, .values
            return [(layer.keys, layer.values) for layer in layers[:num_layers]]
        cross = self.cross_kvs(memory)
        if cache is not None:
            for i, (k, v) in enumerate(cross):
                cache.cross_attention_cache.update(k, v, i)
                cache.is_updated[i] = True
        return cross

    def _decode(
        self,
        decoder_input_ids: torch.Tensor,
        cross: list[KV],
        memory_mask: torch.Tensor | None,
        cache: EncoderDecoderCache | None,
    ) -> torch.Tensor:
        B, M = decoder_input_ids.shape
        past = 0 if cache is None else cache.get_seq_length()
        if past + M > self.max_target_positions:
            raise ValueError(f"tactic of {past + M} tokens exceeds max_target_positions")
        pos = torch.arange(past, past + M, device=decoder_input_ids.device)
        y = self.encoder.embed(decoder_input_ids) + self.dec_pos(pos)
        self_cache = None if cache is None else cache.self_attention_cache
        for i, (layer, kv) in enumerate(zip(self.decoder, cross, strict=True)):
            y = layer(y, kv, memory_mask, self_cache, i)
        logits: torch.Tensor = self.lm_head(self.dec_norm(y))
        return logits

    def sequence_logprobs(
        self,
        memory: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
        owner: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced log-likelihoods of given tactics. memory (S, N, d) and attention_mask
        (S, N): S encoded states; labels (R, M) long: R tactics as trained (tokens, then eos;
        -100 after); owner (R,) long: each tactic's state (default: row r) -> (R,) float32,
        the sum over each tactic's tokens of log_softmax(logits): what beam search's
        `sequences_scores` sums with length_penalty=0. One decoder pass (chunked only when
        the logits would pass _MAX_LOGITS); each state's cross-attention keys/values are
        computed once and shared by its tactics."""
        R = labels.shape[0]
        if owner is None:
            owner = torch.arange(R, device=labels.device)
        cross = self.cross_kvs(memory)  # each (S, H, N, Dh)
        mask = memory_mask(attention_mask)  # (S, 1, 1, N)
        rows = max(1, _MAX_LOGITS // max(1, labels.shape[1] * self.config.vocab_size))
        out = [labels.new_zeros(0, dtype=torch.float32)]
        for start in range(0, R, rows):
            lab = labels[start : start + rows]
            used = (lab != -100).any(0).nonzero()
            lab = lab[:, : int(used.max().item()) + 1 if len(used) else 1]  # drop all-pad columns
            idx = owner[start : start + rows]
            chunk_cross = [(k[idx], v[idx]) for k, v in cross]  # each (r, H, N, Dh)
            chunk_mask = None if mask is None else mask[idx]
            logits = self._decode(self.shift_right(lab), chunk_cross, chunk_mask, None)
            logp = logits.float().log_softmax(-1)  # (r, m, vocab)
            tok = logp.gather(-1, lab.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (r, m)
            out.append(tok.masked_fill(lab == -100, 0.0).sum(-1))
        return torch.cat(out)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple[torch.Tensor, ...] | None = None,
        links: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        """input_ids (B, N): state tokens; labels (B, M): tactic tokens, then eos (-100 ignored).
        `use_cache=True` starts a KV cache (returned as `.cache`); pass it back as `cache`
        with only the new decoder ids, as `generate` does."""
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("TacticModel needs input_ids or encoder_outputs")
            encoder_outputs = self.encoder(input_ids, attention_mask, links)
        memory = encoder_outputs[0]
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("TacticModel needs decoder_input_ids or labels")
            decoder_input_ids = self.shift_right(labels)
        if cache is None:  # `past_key_values`: transformers' name for it before 5.x's `cache`
            cache = kwargs.pop("past_key_values", None)
        if use_cache and cache is None:
            cache = EncoderDecoderCache(
                DynamicCache(config=self.config), DynamicCache(config=self.config)
            )
        logits = self.decode(decoder_input_ids, memory, attention_mask, cache)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100
            )
        return Seq2SeqLMOutput(
            loss=loss, logits=logits, cache=cache, encoder_last_hidden_state=memory
        )

    def _reorder_cache(
        self, cache: EncoderDecoderCache, beam_idx: torch.LongTensor
    ) -> EncoderDecoderCache:
        """Beam search's reorder of the cache (`generate` calls a model's own by this name):
        the self-attention keys/values follow the beams; the cross-attention ones stay, since
        beams move only within one input's group, whose rows are equal (skipping that copy of
        (B * beams, H, N, Dh) per layer and step saves ~15% of a beam-16 `propose_batch`)."""
        cache.self_attention_cache.reorder_cache(beam_idx)
        return cache

    def shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B, M) -> decoder inputs (B, M): bos, then labels[:, :-1] with -100 as pad."""
        mc = self.config.model_config
        shifted = labels.new_full(labels.shape, mc.pad_token_id)
        shifted[:, 0] = mc.bos_token_id
        shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == -100, mc.pad_token_id)
        return shifted


def memory_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """attention_mask (B, N), 1 = token -> (B, 1, 1, N) bool, True = attend (None stays None)."""
    return None if attention_mask is None else attention_mask.bool()[:, None, None, :]


def register_auto_classes() -> None:
    """Make AutoConfig / AutoModelForSeq2SeqLM resolve "springtail_tactic"."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    AutoConfig.register("springtail_tactic", TacticConfig, exist_ok=True)
    AutoModelForSeq2SeqLM.register(TacticConfig, TacticModel, exist_ok=True)
