"""The recurrent link-editing encoder: one weight-tied block applied T times to token states
and a per-head link tensor.

Symbols (../shared/DESIGN.md, "The model"): x (B, N, d) the input embedding, injected at
every step; z (B, N, d) the token states; L (B, H, N, N) the links; one step is

    h = z + x;  h = h + Attn(LN(h); L);  h = h + MLP(LN(h))   (num_layers times)
    z' = LN(h)
    alpha_k = softmax_i(a_k . a'_i / sqrt(P)), beta_k = softmax_j(b_k . b'_j / sqrt(P)), i, j != k
    g_k = tanh(w_g . z'_k)                       (per head, in [-1, 1])
    L' = clip(L + alpha^T diag(g) beta, -c, c)   (per head; -inf links stay -inf)

Attn is `kernels.link_attention` (scores + L). The recurrence drivers (unroll, fixed point,
adaptive stopping) live in `prover/model/recurrence.py`, the recurrent state (`Carry`) and the
output (`EncoderOutput`) in `prover/model/carry.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kernels.link_attention import link_attention, safe_softmax
from prover.model.carry import Carry, EncoderOutput
from prover.model.config import EncoderConfig
from prover.model.recurrence import run_recurrence


def write_links(
    links: torch.Tensor, alpha: torch.Tensor, gate: torch.Tensor, beta: torch.Tensor, clip: float
) -> torch.Tensor:
    """L' = clip(L + alpha^T diag(g) beta, -c, c) per head; -inf entries stay -inf.

    links (B, H, N, N); alpha, beta (B, H, N, N) with alpha[b, h, k, i] = token k's source
    pointer at i; gate (B, H, N)."""
    delta = torch.matmul((alpha * gate[..., None]).transpose(-1, -2), beta)  # (B, H, N, N)
    edited = torch.clamp(links + delta, -clip, clip)
    return torch.where(torch.isneginf(links), links, edited)


def write_links_sparse(
    links: torch.Tensor,
    alpha: tuple[torch.Tensor, torch.Tensor],
    gate: torch.Tensor,
    beta: tuple[torch.Tensor, torch.Tensor],
    clip: float,
) -> torch.Tensor:
    """`write_links` with top-k pointers: alpha, beta = (weights, indices), each (B, H, N, k).

    Token k adds g_k alpha_k(i) beta_k(j) at its k x k (i, j) pairs only: M = B H N k^2 edits.
    They are sorted by pair and summed per pair (several tokens may write the same one), and
    each edited pair's new value clip(L + sum) is added once, as new - old, into a copy of
    `links` (the caller's tensor is never changed: autograd, the convergence test and a
    resumed carry still need it). Every buffer has the fixed size M, so nothing waits for the
    device to say how many pairs were edited. Pairs nobody writes are not clipped again: links
    enter the recurrence inside [-c, c] (`LinkEditingEncoder.initial_carry`), so this equals
    `write_links` on the same pointers, up to rounding."""
    B, H, N, _ = links.shape
    (a_w, a_i), (b_w, b_i) = alpha, beta
    values = gate[..., None, None] * a_w[..., :, None] * b_w[..., None, :]  # (B, H, N, k, k)
    head = torch.arange(B * H, device=links.device).view(B, H, 1, 1, 1) * (N * N)
    flat = head + a_i[..., :, None] * N + b_i[..., None, :]  # (B, H, N, k, k) into links.view(-1)
    pairs, order = flat.reshape(-1).sort(stable=True)  # (M,); ties in token order, so a
    # pair's sum adds in the same order whatever else is in the batch
    edits = values.reshape(-1)[order].float()  # summed in fp32, as the dense matmul would
    first = torch.ones_like(pairs, dtype=torch.bool)
    first[1:] = pairs[1:] != pairs[:-1]
    last = torch.ones_like(pairs, dtype=torch.bool)
    last[:-1] = first[1:]
    group = first.cumsum(0) - 1  # (M,) the pair's rank among the distinct pairs
    totals = edits.new_zeros(edits.shape).index_add(0, group, edits)[group]  # (M,) per pair
    flat_links = links.reshape(-1)
    old = flat_links[pairs]
    new = torch.clamp(old + totals.to(old.dtype), -clip, clip)
    change = torch.where(last & ~torch.isneginf(old), new - old, torch.zeros_like(old))
    return flat_links.index_put((pairs,), change, accumulate=True).view(B, H, N, N)


class LinkWriter(nn.Module):
    """Token k writes one link per head: pointers alpha_k (source), beta_k (target), gate g_k."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        H, P = cfg.num_heads, cfg.pointer_dim
        self.src = nn.Linear(cfg.d_model, 2 * H * P)
        self.dst = nn.Linear(cfg.d_model, 2 * H * P)
        self.gate = nn.Linear(cfg.d_model, H)
        # By default gates start at zero: links stay at their structural value until learned.
        # (zeros_ draws nothing from the RNG, so seeded models initialise as they always did)
        if cfg.gate_init_std > 0:
            nn.init.normal_(self.gate.weight, std=cfg.gate_init_std)
        else:
            nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def pointer_logits(
        self, proj: nn.Linear, z: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, H, N, N): token k's (row) score for pointing at token i (column); -inf where it
        may not point: itself (when N > 1) and padding. The scale goes on the (N, P) queries
        and the mask on the diagonal only, so no extra (B, H, N, N) pass is made."""
        B, N, _ = z.shape
        H, P = self.cfg.num_heads, self.cfg.pointer_dim
        qp, kp = proj(z).view(B, N, 2, H, P).permute(2, 0, 3, 1, 4)  # (B, H, N, P) each
        logits = torch.matmul(qp * P**-0.5, kp.transpose(-1, -2))  # (B, H, N, N)
        if N > 1:
            logits.diagonal(dim1=-2, dim2=-1).fill_(float("-inf"))  # matmul keeps no output
        if key_padding_mask is not None:
            logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return logits

    def pointers(
        self, proj: nn.Linear, z: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """alpha or beta (B, H, N, N): token k's softmax over the tokens it may point at."""
        return safe_softmax(self.pointer_logits(proj, z, key_padding_mask))

    def sparse_pointers(
        self, proj: nn.Linear, z: torch.Tensor, key_padding_mask: torch.Tensor | None, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights, indices), each (B, H, N, k): the softmax over each token's top-k targets."""
        values, index = self.pointer_logits(proj, z, key_padding_mask).topk(k, dim=-1)
        return safe_softmax(values), index

    def forward(
        self, z: torch.Tensor, links: torch.Tensor, key_padding_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """z (B, N, d), links (B, H, N, N) -> new links (B, H, N, N)."""
        N = z.shape[1]
        gate = torch.tanh(self.gate(z)).transpose(1, 2)  # (B, H, N)
        if key_padding_mask is not None:
            gate = gate.masked_fill(key_padding_mask[:, None, :], 0.0)  # padding never writes
        k = self.cfg.pointer_topk
        if k is not None and k < N:
            alpha_s = self.sparse_pointers(self.src, z, key_padding_mask, k)
            beta_s = self.sparse_pointers(self.dst, z, key_padding_mask, k)
            return write_links_sparse(links, alpha_s, gate, beta_s, self.cfg.link_clip)
        alpha = self.pointers(self.src, z, key_padding_mask)
        beta = self.pointers(self.dst, z, key_padding_mask)
        return write_links(links, alpha, gate, beta, self.cfg.link_clip)


class LinkAttention(nn.Module):
    """Multi-head self-attention whose scores are biased by the links (links=None: no bias,
    plain scaled-dot-product attention for the dot score)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(
        self, h: torch.Tensor, links: torch.Tensor | None, key_padding_mask: torch.Tensor | None
    ) -> torch.Tensor:
        B, N, _ = h.shape
        H, D = self.cfg.num_heads, self.cfg.head_dim
        qkv = self.qkv(h).view(B, N, 3, H, D)  # (B, N, 3, H, D)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))  # (B, H, N, D) each
        if links is None and self.cfg.score == "dot":
            keep = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        else:
            if links is None:
                links = q.new_zeros(B, H, N, N)
            o = link_attention(
                q,
                k,
                v,
                links.to(q.dtype),
                score=self.cfg.score,
                key_padding_mask=key_padding_mask,
                impl=self.cfg.attn_impl,
            )
        return self.out(o.transpose(1, 2).reshape(B, N, H * D))  # (B, N, d)


class LinkLayer(nn.Module):
    """Pre-norm attention + MLP sub-layer of the block."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = LinkAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )

    def forward(
        self, h: torch.Tensor, links: torch.Tensor | None, key_padding_mask: torch.Tensor | None
    ) -> torch.Tensor:
        h = h + self.attn(self.norm1(h), links, key_padding_mask)
        return h + self.mlp(self.norm2(h))


class LinkEditingEncoder(nn.Module):
    """x (B, N, d) [+ structural links] -> token states after T weight-tied steps.

    Training runs the `recurrence` mode of the config; eval mode runs up to T steps and stops
    early per example as `adaptive` says (see `prover/model/recurrence.py`)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(LinkLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.writer = LinkWriter(cfg) if cfg.edit_links else None
        self.halt = nn.Linear(cfg.d_model, 1)  # halting head on the mean token state

    def initial_carry(self, x: torch.Tensor, links: torch.Tensor | None = None) -> Carry:
        """z = 0 and L = the structural links: (B, H, N, N), (B, N, N) shared by heads, or zeros."""
        B, N, _ = x.shape
        H = self.cfg.num_heads
        if links is None:
            L0 = x.new_zeros(B, H, N, N)
        else:
            if links.dim() == 3:
                links = links[:, None]  # (B, 1, N, N)
            if links.dim() != 4 or links.shape[0] != B or links.shape[-2:] != (N, N):
                raise ValueError(
                    f"links must be (B, H, N, N) or (B, N, N) with B={B}, N={N}; "
                    f"got {tuple(links.shape)}"
                )
            L0 = links.to(x.dtype).expand(B, H, N, N).clone()
            if self.cfg.edit_links:  # every write clips to [-c, c]; so does the start
                L0 = torch.where(
                    torch.isneginf(L0), L0, L0.clamp(-self.cfg.link_clip, self.cfg.link_clip)
                )
        steps = torch.zeros(B, dtype=torch.long, device=x.device)
        return Carry(x.new_zeros(B, N, self.cfg.d_model), L0, steps)

    def step(
        self,
        z: torch.Tensor,
        links: torch.Tensor,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
        write: bool | torch.Tensor = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One application of the block: (z, L) -> (z', L'). `write`: False keeps L; a (B,)
        bool tensor writes the examples where it is True."""
        h = z + x
        for layer in self.layers:
            h = layer(h, links, key_padding_mask)
        z_new = self.norm(h)
        if self.writer is None:
            return z_new, links
        if isinstance(write, torch.Tensor):
            if bool(write.all()):
                write = True
            elif not bool(write.any()):
                write = False
            else:
                written = self.writer(z_new, links, key_padding_mask)
                return z_new, torch.where(write[:, None, None, None], written, links)
        if write:
            links = self.writer(z_new, links, key_padding_mask)
        return z_new, links

    def halt_logit(self, z: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        """(B,) logit that the example may stop now, from the mean of its non-padding tokens."""
        if key_padding_mask is None:
            pooled = z.mean(1)
        else:
            keep = (~key_padding_mask).to(z.dtype)[..., None]  # (B, N, 1)
            pooled = (z * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        logit: torch.Tensor = self.halt(pooled).squeeze(-1)
        return logit

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        links: torch.Tensor | None = None,
        carry: Carry | None = None,
        num_steps: int | None = None,
    ) -> EncoderOutput:
        """x (B, N, d) -> EncoderOutput. Pass `carry` to continue from an earlier state (its
        links then replace `links`); `num_steps` overrides T."""
        if key_padding_mask is not None and key_padding_mask.dtype != torch.bool:
            raise ValueError("key_padding_mask must be bool with True = padding")
        if carry is None:
            carry = self.initial_carry(x, links)
        return run_recurrence(self, x, carry, key_padding_mask, num_steps or self.cfg.num_steps)


__all__ = [
    "LinkEditingEncoder",
    "LinkWriter",
    "write_links",
    "write_links_sparse",
]
