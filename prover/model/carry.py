"""The encoder's recurrent state (`Carry`), what one encoder call returns (`EncoderOutput`), and
the convergence measure the recurrence stops on (`relative_change`).

Symbols as in `prover/model/encoder.py`: z (B, N, d) the token states, L (B, H, N, N) the links.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Carry:
    """Recurrent state: what one step reads and writes."""

    z: torch.Tensor  # (B, N, d) token states
    links: torch.Tensor  # (B, H, N, N) link biases; -inf = destroyed
    steps: torch.Tensor  # (B,) long: steps applied since the initial carry, per example

    def detach(self) -> Carry:
        """The same state cut from the graph (between deep-supervision segments)."""
        return Carry(self.z.detach(), self.links.detach(), self.steps)


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # (B, N, d): z after the last step
    carry: Carry | None  # None for the non-recurrent baseline
    step_states: list[torch.Tensor]  # z after each step that carries gradients (deep supervision)
    halt_logits: list[torch.Tensor]  # (B,) per step in step_states: the halting head's logit
    steps_used: torch.Tensor  # (B,) long: steps this call applied to each example


def relative_change(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """(B,) ||new - old|| / ||old|| per example, ignoring non-finite entries (-inf links)."""
    diff = torch.nan_to_num(new - old, nan=0.0, posinf=0.0, neginf=0.0).flatten(1)
    ref = torch.nan_to_num(old, nan=0.0, posinf=0.0, neginf=0.0).flatten(1)
    return diff.norm(dim=1) / ref.norm(dim=1).clamp(min=1e-6)


__all__ = ["Carry", "EncoderOutput", "relative_change"]
