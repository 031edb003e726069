"""Tactics from a trained tactic model (`springtail train`): beam search (the k best tactics
and their summed log-probabilities) or sampling (k draws, de-duplicated).

`propose_batch` encodes several queued states in one padded batch and runs one `generate`
call for all of them; search sends it `SearchConfig.expand_batch` states at a time. Sampling
draws from torch's global RNG: seed it (`torch.manual_seed`) for reproducible samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prover.envs.base import ProofState
from prover.model.artifact import load_tactic_model
from prover.policies.base import DECODINGS, Candidate, TacticPolicy
from prover.tokenizer import PAD


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
        imports: tuple[str, ...] = (),
        device: str | None = None,
    ) -> None:
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be beam or sample, got {decoding!r}")
        if num_candidates < 1:
            raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
        loaded = load_tactic_model(model, device)
        self.path = loaded.path
        self.device = loaded.device
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.max_state_tokens = loaded.max_state_tokens
        self.version = loaded.version
        self.num_candidates = num_candidates
        self.decoding = decoding
        self.temperature = temperature
        self.imports = imports

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        import torch

        k = self.num_candidates
        encoded = [self.tokenizer.encode_state(s.text, self.max_state_tokens) for s in states]
        n = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), n), PAD, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.no_grad():
            if self.decoding == "beam":
                out = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    num_beams=k,
                    num_return_sequences=k,
                    length_penalty=0.0,  # sequences_scores = summed log-probabilities
                    early_stopping=True,
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
                    num_return_sequences=k,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                steps = self.model.compute_transition_scores(
                    out.sequences, out.scores, normalize_logits=True
                )
                scores = steps.masked_fill(~torch.isfinite(steps), 0.0).sum(-1).tolist()
        seqs = out.sequences.tolist()
        result: list[list[Candidate]] = []
        for i in range(len(states)):
            best: dict[str, float] = {}
            for j in range(i * k, (i + 1) * k):
                tactic = self.tokenizer.decode_tactic(seqs[j]).strip()
                if tactic and (tactic not in best or scores[j] > best[tactic]):
                    best[tactic] = scores[j]
            ranked = sorted(best.items(), key=lambda kv: -kv[1])
            result.append([Candidate(t, lp) for t, lp in ranked])
        return result
