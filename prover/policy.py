"""The `TacticPolicy` seam between search and whatever proposes tactics, and the baselines
that need no model.

A policy maps a proof state to a list of `Candidate(tactic, logprob)`, best first. It may
also name `imports`: commands its tactics need (e.g. `From Coq Require Import Lia.`), which
the env places just before the theorem (never at the top of the file: that would change
the hints earlier proofs in the file see).

Baselines:
- `PortfolioPolicy`: closing automation tactics, each wrapped in `solve [...]` so it fails
  unless it closes the goal, then a few structural steps (`intros`, `simpl`, induction on
  the first `nat`/`list` variable, `split`) after which search tries the closers again.
- `HammerPolicy`: CoqHammer's `sauto` and `hammer` (Debian's libcoq-hammer, eprover, z3,
  cvc4), under the same per-tactic time limit.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prover.envs.base import ProofState


@dataclass(frozen=True)
class Candidate:
    tactic: str
    logprob: float


class TacticPolicy(Protocol):
    name: str
    imports: tuple[str, ...]

    def propose(self, state: ProofState) -> list[Candidate]:
        """Candidate tactics for `state`, best first."""
        ...


CLOSERS = (
    "reflexivity",
    "assumption",
    "auto",
    "trivial",
    "discriminate",
    "congruence",
    "lia",
    "tauto",
    "intuition",
    "simpl; auto",
    "eauto",
    "firstorder",
)
# A variable of a data type: `nat`, `bool`, `list A`, `option (A * B)`, `positive`, ...
_VAR_RE = re.compile(r"^([\w', ]+) : ([A-Za-z_][\w.]*(?: [\w.]+| \(.+\))?)$", re.M)
_NOT_DATA = {"Prop", "Set", "Type"}


def _first_inductive_var(state: ProofState) -> str | None:
    """The first variable of the (first) goal whose type is data (nat, bool, list _, ...),
    not a proposition or a type: induction on it is the classic first step."""
    first_goal = state.text.split("\n\n")[0]
    hyps = first_goal.split("============================")[0]
    for m in _VAR_RE.finditer(hyps):
        head = m.group(2).split()[0]
        if head not in _NOT_DATA and head[0].islower() or head in ("N", "Z", "Q", "R"):
            return m.group(1).split(",")[0].strip()
    return None


def _goal_is_quantified(state: ProofState) -> bool:
    first_goal = state.text.split("\n\n")[0]
    concl = first_goal.split("============================")[-1].strip()
    return concl.startswith("forall") or "->" in concl or concl.startswith("~")


class PortfolioPolicy:
    """Fixed automation portfolio (see module docstring)."""

    name = "portfolio"
    imports: tuple[str, ...] = ("From Coq Require Import Lia.",)

    def __init__(self, closers: tuple[str, ...] = CLOSERS) -> None:
        self.closers = closers

    def propose(self, state: ProofState) -> list[Candidate]:
        out = [Candidate(f"solve [{t}].", -0.1 * (i + 1)) for i, t in enumerate(self.closers)]
        structural = []
        if _goal_is_quantified(state):
            structural.append("intros.")
        var = _first_inductive_var(state)
        if var is not None:
            structural.append(f"induction {var}.")
        structural += ["simpl.", "split."]
        out += [Candidate(t, -2.0 - 0.5 * i) for i, t in enumerate(structural)]
        return out


LEAN_CLOSERS = (
    "rfl",
    "norm_num",
    "simp",
    "decide",
    "omega",
    "linarith",
    "nlinarith",
    "positivity",
    "ring_nf",
    "field_simp",
    "simp_all",
    "aesop",
)


class LeanPortfolioPolicy:
    """The portfolio baseline for Lean 4 + Mathlib: closing automation (`norm_num`, `linarith`,
    `omega`, `aesop`, ...), then `intro`/`constructor` after which search tries them again.
    A closer that only simplifies leaves a new state, which search keeps."""

    name = "portfolio"
    imports: tuple[str, ...] = ()

    def __init__(self, closers: tuple[str, ...] = LEAN_CLOSERS) -> None:
        self.closers = closers

    def propose(self, state: ProofState) -> list[Candidate]:
        out = [Candidate(t, -0.1 * (i + 1)) for i, t in enumerate(self.closers)]
        structural = []
        concl = state.text.split("⊢")[-1].strip()
        if concl.startswith("∀") or "→" in concl or concl.startswith("¬"):
            structural.append("intro h")
        structural += ["constructor", "norm_num at *"]
        out += [Candidate(t, -2.0 - 0.5 * i) for i, t in enumerate(structural)]
        return out


class HammerPolicy:
    """CoqHammer baseline: `sauto`, then `hammer` (ATPs + reconstruction)."""

    name = "hammer"

    def __init__(self, atp_limit_s: float = 10.0) -> None:
        limit = max(1, math.floor(atp_limit_s))
        self.imports = (
            "From Hammer Require Import Hammer Tactics.",
            f"Set Hammer ATPLimit {limit}.",
        )

    def propose(self, state: ProofState) -> list[Candidate]:
        return [Candidate("sauto.", -0.1), Candidate("hammer.", -0.2)]


class ModelPolicy:
    """Tactics from a trained tactic model (`springtail train`): beam search (the k best
    tactics and their summed log-probabilities) or sampling (k draws, de-duplicated).

    `propose_batch` encodes several queued states in one padded batch and runs one `generate`
    call for all of them; search uses it when `SearchConfig.batch_size > 1`. Sampling draws
    from torch's global RNG: seed it (`torch.manual_seed`) for reproducible samples.
    """

    name = "model"

    def __init__(
        self,
        model: str | Path,
        *,
        num_candidates: int = 8,
        method: str = "beam",
        temperature: float = 1.0,
        imports: tuple[str, ...] = (),
        device: str | None = None,
    ) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        from prover.model.tactic import TacticModel
        from prover.tokenizer import load_tokenizer
        from prover.model.artifact import model_dir

        hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load otherwise

        if method not in ("beam", "sample"):
            raise ValueError(f"method must be beam or sample, got {method!r}")
        if num_candidates < 1:
            raise ValueError("num_candidates must be at least 1")
        path = model_dir(model)
        self.path = path
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = TacticModel.from_pretrained(str(path)).to(self.device).eval()  # type: ignore[arg-type]
        self.tokenizer = load_tokenizer(path)
        info = path / "springtail.json"
        self.max_state_tokens = self.model.config.model_config.max_positions
        if info.is_file():
            meta = json.loads(info.read_text())
            self.max_state_tokens = meta.get("max_state_tokens", self.max_state_tokens)
        self.version = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()[:12]
        self.num_candidates = num_candidates
        self.method = method
        self.temperature = temperature
        self.imports = imports

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        import torch

        from prover.tokenizer import PAD

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
            if self.method == "beam":
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


POLICIES = {"portfolio": PortfolioPolicy, "hammer": HammerPolicy, "model": ModelPolicy}
