"""How the encoder's block recurs: unrolled with deep supervision, fixed point with an implicit
or one-step gradient, and adaptive stopping at inference.

- `unroll` (training): T steps; the first T - K run without a graph, the last K keep one and
  their states are returned for deep supervision. Memory grows with K.
- `fixed_point` (training): iterate (z, L) <- f(z, L) without a graph until the relative
  change is under `fixed_point_tol` (at most T steps), then apply f once more with a graph.
  `one_step` backpropagates through that last application only (the "one-step" or phantom
  gradient; Fung et al. 2022, arXiv:2103.12803); `implicit` solves u = g + J^T u at the fixed
  point by fixed-point iteration on vector-Jacobian products (Bai et al. 2019, Deep
  Equilibrium Models, arXiv:1909.01377). Memory does not depend on T in either.
- eval mode: up to T steps; an example stops when its state stops changing (`adaptive =
  "converge"`, also what `fixed_point` does by default) or when the halting head says so
  (`"halt"`); stopped examples keep their state while the others go on.

The drivers see the encoder only through `Block`: its config, its mode, one step and the
halting head. They import nothing from `encoder.py`, which calls `run_recurrence` on itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from prover.model.carry import Carry, EncoderOutput, relative_change
from prover.model.config import EncoderConfig

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
# The implicit backward: incoming gradients (gz, glinks), None where autograd gives none.
Solve = Callable[[torch.Tensor | None, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


class Block(Protocol):
    """The weight-tied block as the recurrence drives it (`LinkEditingEncoder` is one)."""

    cfg: EncoderConfig  # recurrence, grad_steps, tolerances, adaptive, edit_links
    training: bool  # True: the training recurrence; False: adaptive inference

    def step(
        self,
        z: torch.Tensor,
        links: torch.Tensor,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
        write: bool | torch.Tensor = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (B, N, d), L (B, H, N, N)) -> (z', L'), with x (B, N, d) injected; `write` False
        (or False for an example, as a (B,) bool tensor) leaves L as it is."""
        ...

    def halt_logit(self, z: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """(B,) logit that the example may stop now."""
        ...


def run_recurrence(
    enc: Block,
    x: torch.Tensor,
    carry: Carry,
    key_padding_mask: torch.Tensor | None,
    num_steps: int,
) -> EncoderOutput:
    """Dispatch on training/eval mode and the config's recurrence. With `write_every` = k > 1
    an example's links are written on its global steps k, 2k, ... (counted from its carry's
    `steps`, so a continued carry keeps the rhythm); between them they stay as they are."""
    every = enc.cfg.write_every
    applied = 0

    def step(z: torch.Tensor, links: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal applied
        applied += 1
        if every == 1:
            return enc.step(z, links, x, key_padding_mask)
        due = (carry.steps + applied) % every == 0  # (B,)
        return enc.step(z, links, x, key_padding_mask, write=due)

    if not enc.training:
        return _infer(enc, step, carry, key_padding_mask, num_steps)
    if enc.cfg.recurrence == "unroll":
        return _unroll(enc, step, carry, key_padding_mask, num_steps)
    return _fixed_point(enc, step, carry, key_padding_mask, num_steps)


def _output(
    enc: Block,
    carry: Carry,
    states: list[torch.Tensor],
    key_padding_mask: torch.Tensor | None,
    steps_used: torch.Tensor,
) -> EncoderOutput:
    halts = [enc.halt_logit(z, key_padding_mask) for z in states]
    return EncoderOutput(carry.z, carry, states, halts, steps_used)


def _unroll(
    enc: Block, step: Step, carry: Carry, kpm: torch.Tensor | None, T: int
) -> EncoderOutput:
    K = min(enc.cfg.grad_steps or T, T)
    z, links = carry.z, carry.links
    with torch.no_grad():
        for _ in range(T - K):
            z, links = step(z, links)
    states = []
    for _ in range(K):
        z, links = step(z, links)
        states.append(z)
    used = torch.full_like(carry.steps, T)
    return _output(enc, Carry(z, links, carry.steps + used), states, kpm, used)


def _converged(
    z: torch.Tensor,
    links: torch.Tensor,
    z_old: torch.Tensor,
    links_old: torch.Tensor,
    tol: float,
) -> torch.Tensor:
    """(B,) bool: both the token states and the links moved less than tol (relative)."""
    return (relative_change(z, z_old) < tol) & (relative_change(links, links_old) < tol)


def _fixed_point(
    enc: Block, step: Step, carry: Carry, kpm: torch.Tensor | None, T: int
) -> EncoderOutput:
    cfg = enc.cfg
    z, links = carry.z.detach(), carry.links.detach()
    used = 0
    with torch.no_grad():
        for _ in range(T - 1):
            z_new, links_new = step(z, links)
            used += 1
            done = _converged(z_new, links_new, z, links, cfg.fixed_point_tol).all()
            z, links = z_new, links_new
            if done:
                break
    if cfg.fixed_point_grad == "implicit":
        z_out, links_out = _implicit_step(step, z, links, cfg.edit_links, cfg.implicit_iters)
    else:
        z_out, links_out = step(z, links)
    steps_used = torch.full_like(carry.steps, used + 1)
    new = Carry(z_out, links_out, carry.steps + steps_used)
    return _output(enc, new, [z_out], kpm, steps_used)


class _ImplicitBackward(torch.autograd.Function):
    """Identity forward; backward replaces the incoming gradient g by u = g + J^T u."""

    @staticmethod
    def forward(
        ctx: Any, solve: Solve, z: torch.Tensor, links: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.solve = solve
        return z.view_as(z), links.view_as(links)

    @staticmethod
    def backward(
        ctx: Any, gz: torch.Tensor | None, glinks: torch.Tensor | None
    ) -> tuple[None, torch.Tensor, torch.Tensor]:
        uz, ulinks = ctx.solve(gz, glinks)
        return None, uz, ulinks


def _implicit_step(
    step: Step, z: torch.Tensor, links: torch.Tensor, edits_links: bool, iters: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """f(z*, L*) with a graph whose backward is the implicit (DEQ) gradient at the fixed point."""
    z0 = z.detach().requires_grad_()
    links0 = links.detach().requires_grad_(edits_links)
    with torch.enable_grad():
        z1, links1 = step(z0, links0)  # the graph the backward's VJPs go through
    z_out, links_out = step(z.detach(), links.detach())  # the graph to the parameters and x
    frozen = torch.isneginf(links0.detach())  # -inf links are fixed: their J^T rows are not used

    def solve(
        gz: torch.Tensor | None, glinks: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        gz = torch.zeros_like(z0) if gz is None else gz
        glinks = torch.zeros_like(links0) if glinks is None else glinks.masked_fill(frozen, 0.0)
        uz, ulinks = gz, glinks
        for _ in range(iters):
            if edits_links:
                vz, vlinks = torch.autograd.grad(
                    (z1, links1), (z0, links0), (uz, ulinks), retain_graph=True
                )
                ulinks = glinks + vlinks.masked_fill(frozen, 0.0)
            else:
                (vz,) = torch.autograd.grad(z1, z0, uz, retain_graph=True)
            uz = gz + vz
        return uz, ulinks

    if not edits_links:
        links_out = links_out.detach()
    out: tuple[torch.Tensor, torch.Tensor] = _ImplicitBackward.apply(solve, z_out, links_out)
    return out


def _infer(enc: Block, step: Step, carry: Carry, kpm: torch.Tensor | None, T: int) -> EncoderOutput:
    cfg = enc.cfg
    mode = cfg.adaptive
    if mode == "off" and cfg.recurrence == "fixed_point":
        mode = "converge"
    tol = cfg.fixed_point_tol if cfg.adaptive == "off" else cfg.adaptive_tol
    z, links = carry.z, carry.links
    active = torch.ones_like(carry.steps, dtype=torch.bool)
    used = torch.zeros_like(carry.steps)
    for _ in range(T):
        z_new, links_new = step(z, links)
        used = used + active.long()
        if mode == "converge":
            done = _converged(z_new, links_new, z, links, tol)
        elif mode == "halt":
            done = torch.sigmoid(enc.halt_logit(z_new, kpm)) > cfg.halt_threshold
        else:
            done = torch.zeros_like(active)
        z = torch.where(active[:, None, None], z_new, z)
        links = torch.where(active[:, None, None, None], links_new, links)
        active = active & ~done
        if not active.any():
            break
    return _output(enc, Carry(z, links, carry.steps + used), [z], kpm, used)
