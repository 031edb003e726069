"""Tactics from a trained tactic model (`springtail train`), and the model as a ranker.

`propose_batch` encodes several queued states in one padded batch and runs one `generate`
call for all of them (with the decoder's KV cache); search sends it `SearchConfig.expand_batch`
states at a time. Decoding draws `num_generated` sequences per state (default 2 x
`num_candidates`), drops the empty ones, merges those equal after `tactic_key` (whitespace
runs collapsed, a trailing period dropped: Coq adds it when missing), keeping the best-scored
spelling, and returns the `num_candidates` best distinct tactics, best first, each with its
summed log-probability:

- `decoding="beam"`: beam search with `num_generated` beams, all returned;
- `decoding="sample"`: `num_generated` draws at `temperature`, from torch's global RNG (seed
  it, `torch.manual_seed`, for reproducible samples).

Why over-generate (measured by `bench/decode.py --factors 1,2,4` on 50 `novel_files/val`
states, `runs/m1`, k=8, one CPU thread): a beam of 8 already returns 8 distinct tactics per
state, even after `tactic_key`, but the narrow beam prunes short likely tactics (`simpl.`,
`reflexivity.`) and returns variants of one prefix: mean log-probability -10.5 and 3.2
distinct first words per state. The best 8 of 16 beams: -6.2 and 6.5; of 32: -4.8 and 8.
Sampling is worse on both (8 draws: -27 and 6.1; 16: -12 and 6.8) and slower. 16 beams take
0.11 s per state (8: 0.08; 32: 0.17), about what 8 beams took before the KV cache (0.10).
Two spellings of one tactic (or spacing variants) would also leave a beam of k with fewer
than k candidates; 2k makes that rarer. Diverse (group) beam search left `transformers` core
in v5 (it is a Hub `custom_generate` now), so it is not offered.

`score_batch` is the model as a ranker: each candidate tactic's log-likelihood given its state
by teacher forcing (one encoder pass per state, one decoder pass for all candidates), the
quantity beam search's scores sum, for tactics from any source.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prover.envs.base import ProofState
from prover.model.artifact import load_tactic_model
from prover.policies.base import DECODINGS, Candidate, TacticPolicy, tactic_key
from prover.tokenizer import PAD

if TYPE_CHECKING:
    import torch


def best_distinct(tactics: Sequence[str], scores: Sequence[float], k: int) -> list[Candidate]:
    """The `k` best-scored tactics that differ by `tactic_key` (each key's best spelling,
    stripped), best first; empty tactics are dropped."""
    best: dict[str, Candidate] = {}
    for tactic, score in zip(tactics, scores, strict=True):
        text, key = tactic.strip(), tactic_key(tactic)
        if key and (key not in best or score > best[key].logprob):
            best[key] = Candidate(text, score, "model")
    return sorted(best.values(), key=lambda c: -c.logprob)[:k]


class ModelPolicy(TacticPolicy):
    """A trained model's tactics (see module docstring)."""

    name = "model"

    def __init__(
        self,
        model: str | Path,
        *,
        num_candidates: int = 8,
        decoding: str = "beam",
        temperature: float = 1.0,
        num_generated: int | None = None,
        imports: tuple[str, ...] = (),
        device: str | None = None,
    ) -> None:
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be beam or sample, got {decoding!r}")
        if num_candidates < 1:
            raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
        num_generated = 2 * num_candidates if num_generated is None else num_generated
        if num_generated < num_candidates:
            raise ValueError(f"num_generated ({num_generated}) must be >= num_candidates")
        loaded = load_tactic_model(model, device)
        self.path = loaded.path
        self.device = loaded.device
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.max_state_tokens = loaded.max_state_tokens
        self.version = loaded.version
        self.num_candidates = num_candidates
        self.num_generated = num_generated
        self.decoding = decoding
        self.temperature = temperature
        self.imports = imports

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def to_device(self, device: str) -> bool:
        self.model.to(device)
        self.device = device
        return True

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        import torch

        if not states:
            return []
        n = self.num_generated
        ids, mask = self.encode_states(states)
        with torch.no_grad():
            if self.decoding == "beam":
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    num_beams=n,
                    num_return_sequences=n,
                    length_penalty=0.0,  # sequences_scores = summed log-probabilities
                    early_stopping=True,
                    use_cache=True,  # models saved before the cache say False
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                scores = out.sequences_scores.tolist()
            else:
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=True,
                    temperature=self.temperature,
                    num_return_sequences=n,
                    use_cache=True,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                steps = self.model.compute_transition_scores(
                    out.sequences, out.scores, normalize_logits=True
                )
                scores = steps.masked_fill(~torch.isfinite(steps), 0.0).sum(-1).tolist()
        tactics = [self.tokenizer.decode_tactic(seq) for seq in out.sequences.tolist()]
        return [
            best_distinct(
                tactics[i * n : (i + 1) * n], scores[i * n : (i + 1) * n], self.num_candidates
            )
            for i in range(len(states))
        ]

    def score_batch(
        self, states: Sequence[ProofState], candidates: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """For each state, the model's log-likelihood of each of its candidate tactics: the sum
        over the tactic's tokens and eos of log_softmax, as beam search scores them. One
        encoder pass over the states that have candidates, one decoder pass over all the
        candidates (teacher forcing, no generation)."""
        import torch

        if len(states) != len(candidates):
            raise ValueError(f"{len(states)} states but {len(candidates)} candidate lists")
        rows = [i for i, c in enumerate(candidates) if c]
        if not rows:
            return [[] for _ in states]
        labels = [self.tactic_labels(t) for i in rows for t in candidates[i]]
        owner = [j for j, i in enumerate(rows) for _ in candidates[i]]
        padded = torch.full((len(labels), max(map(len, labels))), -100, dtype=torch.long)
        for r, lab in enumerate(labels):
            padded[r, : len(lab)] = torch.tensor(lab)
        ids, mask = self.encode_states([states[i] for i in rows])
        with torch.no_grad():
            memory = self.model.encoder(ids, mask).last_hidden_state
            flat = self.model.sequence_logprobs(
                memory, mask, padded.to(self.device), torch.tensor(owner, device=self.device)
            ).tolist()
        out: list[list[float]] = [[] for _ in states]
        start = 0
        for i in rows:
            out[i] = flat[start : start + len(candidates[i])]
            start += len(candidates[i])
        return out

    def tactic_labels(self, tactic: str) -> list[int]:
        """The tactic's token ids as training encodes a target (pieces, then eos). One too long
        for the decoder keeps the pieces that fit, without eos: its score is then the
        log-probability of that prefix, an upper bound on the tactic's."""
        limit = self.model.max_target_positions
        ids = self.tokenizer.encode_tactic(tactic, limit)
        if ids is None:
            return list(self.tokenizer.sp_model.encode(tactic))[:limit]
        return ids

    def encode_states(self, states: Sequence[ProofState]) -> tuple[torch.Tensor, torch.Tensor]:
        """The states as the model reads them: input_ids and attention_mask, each (B, N) long,
        right-padded, on the policy's device."""
        import torch

        encoded = [self.tokenizer.encode_state(s.text, self.max_state_tokens) for s in states]
        n = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), n), PAD, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1
        return ids.to(self.device), mask.to(self.device)
