"""Baseline encoders with the link-editing encoder's interface, for like-for-like comparisons.

- `PlainEncoder`: a standard (non-recurrent) pre-norm transformer encoder, distinct weights per
  layer, scaled-dot-product attention with no links; `matched_plain_config` sizes it to the
  link-editing encoder's parameter count.
- the looped transformer (same recurrence, links frozen at their initial value) is
  `LinkEditingEncoder(replace(cfg, edit_links=False))`: a config field, not a class.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from prover.model.config import EncoderConfig
from prover.model.encoder import EncoderOutput, LinkEditingEncoder, LinkLayer


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


def matched_plain_config(cfg: EncoderConfig, num_layers: int | None = None) -> EncoderConfig:
    """A `PlainEncoder` config with `num_layers` layers (default: the link block's count) and
    the d_ff that brings its parameter count closest to `LinkEditingEncoder(cfg)`'s."""
    target = num_params(LinkEditingEncoder(cfg))
    layers = num_layers or cfg.num_layers
    d = cfg.d_model
    # Per layer: 2 LayerNorms (4d), qkv (3d^2 + 3d), out (d^2 + d), MLP (2 d d_ff + d_ff + d).
    fixed = layers * (4 * d + 4 * d * d + 4 * d + d) + 2 * d
    d_ff = round((target - fixed) / (layers * (2 * d + 1)))
    if d_ff < 1:
        raise ValueError(
            f"cannot match {target} parameters with {layers} layers of width {d}: use fewer layers"
        )
    return dataclasses.replace(cfg, num_layers=layers, d_ff=d_ff, num_steps=1, edit_links=False)
