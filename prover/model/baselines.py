"""Baseline encoders with the link-editing encoder's interface, for like-for-like comparisons.

- `PlainEncoder`: a standard (non-recurrent) pre-norm transformer encoder, distinct weights per
  layer, scaled-dot-product attention with no links; `matched_plain_config` sizes it to the
  link-editing encoder's parameter count.
- the looped transformer (same recurrence, links frozen at their initial value) is
  `LinkEditingEncoder` with `edit_links=False`, a config field, not a class;
  `matched_looped_config` widens its d_ff to the link model's parameter count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from prover.model.carry import EncoderOutput
from prover.model.config import EncoderConfig
from prover.model.encoder import LinkEditingEncoder, LinkLayer


class PlainEncoder(nn.Module):
    """x (B, N, d) -> `num_layers` transformer layers applied once -> EncoderOutput."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(LinkLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        links: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """`links` is accepted for interface parity and ignored: this baseline has none."""
        h = x
        for layer in self.layers:
            h = layer(h, None, key_padding_mask)
        z = self.norm(h)
        steps = torch.ones(x.shape[0], dtype=torch.long, device=x.device)
        return EncoderOutput(z, None, [z], [], steps)


def num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _match_d_ff(
    build: Callable[[EncoderConfig], nn.Module], cfg: EncoderConfig, target: int
) -> EncoderConfig:
    """cfg with the d_ff that brings build(cfg)'s parameter count closest to target. The count
    is linear in d_ff (each layer's MLP holds 2 d d_ff + d_ff of them), so two probes solve it."""
    at_1 = num_params(build(dataclasses.replace(cfg, d_ff=1)))
    per_unit = num_params(build(dataclasses.replace(cfg, d_ff=2))) - at_1
    d_ff = 1 + round((target - at_1) / per_unit)
    if d_ff < 1:
        raise ValueError(
            f"cannot match {target} parameters at width {cfg.d_model}: use fewer layers"
        )
    return dataclasses.replace(cfg, d_ff=d_ff)


def matched_plain_config(cfg: EncoderConfig, num_layers: int | None = None) -> EncoderConfig:
    """A `PlainEncoder` config with `num_layers` layers (default: the link block's count) and
    the d_ff that brings its parameter count closest to `LinkEditingEncoder(cfg)`'s."""
    target = num_params(LinkEditingEncoder(cfg))
    plain = dataclasses.replace(
        cfg, num_layers=num_layers or cfg.num_layers, num_steps=1, edit_links=False
    )
    return _match_d_ff(PlainEncoder, plain, target)


def matched_looped_config(cfg: EncoderConfig) -> EncoderConfig:
    """The looped baseline: cfg's recurrence with links frozen (no writer), d_ff widened so its
    parameter count matches `LinkEditingEncoder(cfg)`'s."""
    target = num_params(LinkEditingEncoder(cfg))
    return _match_d_ff(LinkEditingEncoder, dataclasses.replace(cfg, edit_links=False), target)
