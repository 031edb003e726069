"""Configs of the link-editing encoder and the tactic model, and their size presets.

Symbols (see ../shared/DESIGN.md, "The model"): d = d_model, H = num_heads, T = num_steps,
K = grad_steps, c = link_clip, P = pointer_dim (width of the write pointers' queries and keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kernels.link_attention import Impl, Score

Recurrence = Literal["unroll", "fixed_point"]
FixedPointGrad = Literal["one_step", "implicit"]
Adaptive = Literal["off", "converge", "halt"]


@dataclass(frozen=True)
class EncoderConfig:
    """The weight-tied block and how it recurs."""

    d_model: int = 256
    num_heads: int = 4
    d_ff: int = 1024
    num_layers: int = 2  # attention + MLP sub-layers inside the one weight-tied block
    score: Score = "dot"
    attn_impl: Impl = "auto"
    # --- links ---
    edit_links: bool = (
        True  # False: links stay at their initial value (looped-transformer baseline)
    )
    link_clip: float = 5.0  # c: finite links are clipped to [-c, c] after each write
    pointer_dim: int = 32  # P
    # Each pointer keeps its top-k targets (renormalised) and the write touches only the N k^2
    # edited pairs; None: dense pointers and the O(N^3) write. Top-4 is the cheapest at both
    # CSP sizes, N = 81 and 900 (bench/link_encoder.py --write-cost).
    pointer_topk: int | None = 4
    write_every: int = 1  # the writer runs on every k-th step of a call (k = 1: every step)
    gate_init_std: float = 0.0  # std of the gate's initial weights (0: gates start closed)
    # --- recurrence ---
    num_steps: int = 8  # T: steps in training; the cap at inference
    recurrence: Recurrence = "unroll"
    grad_steps: int | None = None  # K: unroll backpropagates through the last K steps (None: all)
    fixed_point_grad: FixedPointGrad = "one_step"
    fixed_point_tol: float = 1e-3  # relative change of the state that counts as converged
    implicit_iters: int = 20  # fixed-point iterations solving the implicit backward
    # --- inference ---
    adaptive: Adaptive = "off"  # stop early per example: on convergence or on the halting head
    adaptive_tol: float = 1e-3
    halt_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model {self.d_model} is not divisible by num_heads {self.num_heads}"
            )
        if self.num_steps < 1 or self.num_layers < 1:
            raise ValueError("num_steps and num_layers must be at least 1")
        if self.grad_steps is not None and not 1 <= self.grad_steps:
            raise ValueError(f"grad_steps must be None or >= 1, got {self.grad_steps}")
        if self.pointer_topk is not None and self.pointer_topk < 1:
            raise ValueError(f"pointer_topk must be None or >= 1, got {self.pointer_topk}")
        if self.write_every < 1:
            raise ValueError(f"write_every must be at least 1, got {self.write_every}")
        if self.write_every > 1 and (self.recurrence != "unroll" or self.adaptive == "converge"):
            raise ValueError(
                "write_every > 1 needs recurrence='unroll' and adaptive != 'converge': a fixed "
                "point and the convergence test would see the steps without a write as settled"
            )
        if self.write_every > 1 and (self.grad_steps or self.num_steps) < self.write_every:
            raise ValueError(
                f"grad_steps {self.grad_steps} < write_every {self.write_every}: some training "
                "calls would backpropagate through no write, so the writer would learn nothing"
            )
        if self.gate_init_std < 0:
            raise ValueError(f"gate_init_std must be non-negative, got {self.gate_init_std}")
        if self.link_clip <= 0:
            raise ValueError(f"link_clip must be positive, got {self.link_clip}")
        _check_choice("score", self.score, Score)
        _check_choice("recurrence", self.recurrence, Recurrence)
        _check_choice("fixed_point_grad", self.fixed_point_grad, FixedPointGrad)
        _check_choice("adaptive", self.adaptive, Adaptive)
        _check_choice("attn_impl", self.attn_impl, Impl)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads


@dataclass(frozen=True)
class ModelConfig:
    """The tactic model: a shared token embedding, the encoder, a small causal decoder."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    vocab_size: int = 8000
    decoder_layers: int = 2
    max_positions: int = 1024  # longest proof state, in tokens
    max_target_positions: int = 128  # longest tactic, in tokens
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    def __post_init__(self) -> None:
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must hold pad, bos and eos, got {self.vocab_size}")
        if self.decoder_layers < 1:
            raise ValueError("decoder_layers must be at least 1")


def _check_choice(name: str, value: object, kind: object) -> None:
    choices = getattr(kind, "__args__", ())
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


# --- presets ---


def tiny(vocab_size: int = 8000) -> ModelConfig:
    """~1M parameters: tests and the CPU demo."""
    enc = EncoderConfig(
        d_model=64, num_heads=4, d_ff=256, num_layers=1, num_steps=4, pointer_dim=16
    )
    return ModelConfig(encoder=enc, vocab_size=vocab_size, decoder_layers=1, max_positions=512)


def small(vocab_size: int = 8000) -> ModelConfig:
    """~8M parameters: CPU training runs of minutes to hours."""
    enc = EncoderConfig(d_model=256, num_heads=4, d_ff=1024, num_layers=2, num_steps=8)
    return ModelConfig(encoder=enc, vocab_size=vocab_size, decoder_layers=2)


def base(vocab_size: int = 8000) -> ModelConfig:
    """~33M parameters: one GPU."""
    enc = EncoderConfig(d_model=512, num_heads=8, d_ff=2048, num_layers=2, num_steps=12)
    return ModelConfig(encoder=enc, vocab_size=vocab_size, decoder_layers=4, max_positions=2048)


PRESETS = {"tiny": tiny, "small": small, "base": base}
