"""Tests for prover/model/{encoder,recurrence,config}.py: the link write/read mechanism, gradient
flow into the writer, the recurrence modes' memory and gradients, adaptive stopping, and the
recurrence driving a hand-written `Block` whose fixed point is known.

Run: pytest tests/test_model.py
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from kernels.link_attention import link_attention
from prover.model.carry import Carry
from prover.model.config import EncoderConfig
from prover.model.encoder import LinkEditingEncoder, LinkWriter, write_links
from prover.model.recurrence import run_recurrence


def tiny_cfg(**kw) -> EncoderConfig:
    base = dict(d_model=32, num_heads=2, d_ff=64, num_layers=1, num_steps=3, pointer_dim=8)
    base.update(kw)
    return EncoderConfig(**base)


def attention_rows(links: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """P (1, 1, N, N) of link attention over fixed random q, k: the values are one-hot rows, so
    out_i = P[i, :]."""
    N = links.shape[-1]
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(1, 1, N, 16, generator=g, dtype=torch.float64) for _ in range(2))
    v = torch.eye(N, 16, dtype=torch.float64)[None, None]
    return link_attention(q, k, v, links, impl="reference")[..., :N]


def one_hot_pointers(N: int, k: int, target: int) -> torch.Tensor:
    p = torch.zeros(1, 1, N, N, dtype=torch.float64)
    p[0, 0, k, target] = 1.0
    return p


def test_written_link_moves_attention_and_negative_gate_removes_it():
    N, i, j, k = 8, 3, 5, 0
    links = torch.zeros(1, 1, N, N, dtype=torch.float64)
    alpha, beta = one_hot_pointers(N, k, i), one_hot_pointers(N, k, j)
    gate = torch.zeros(1, 1, N, dtype=torch.float64)
    gate[0, 0, k] = 1.0
    before = attention_rows(links)

    created = write_links(links, alpha, gate, beta, clip=5.0)
    expected = torch.zeros_like(links)
    expected[0, 0, i, j] = 1.0
    assert torch.equal(created, expected)  # exactly one link, from i to j, of strength g = 1
    after = attention_rows(created)
    assert after[0, 0, i, j] > before[0, 0, i, j]
    # Softmax: only the ratio of p_ij to the other keys of row i changes, by e^1; other rows keep.
    others = [c for c in range(N) if c != j]
    ratio = (after[0, 0, i, j] / after[0, 0, i, others]) / (
        before[0, 0, i, j] / before[0, 0, i, others]
    )
    assert torch.allclose(ratio, torch.full_like(ratio, math.e))
    rows = [r for r in range(N) if r != i]
    assert torch.allclose(after[0, 0, rows], before[0, 0, rows])

    removed = write_links(created, alpha, -gate, beta, clip=5.0)
    assert torch.equal(removed, links)
    assert torch.allclose(attention_rows(removed), before)


def test_links_clip_and_destroyed_links_stay_destroyed():
    N = 4
    links = torch.zeros(1, 1, N, N)
    links[0, 0, 2, 1] = float("-inf")
    alpha = torch.full((1, 1, N, N), 1.0 / N)
    beta = alpha.clone()
    gate = torch.ones(1, 1, N)
    for _ in range(50):  # each write adds N * (1/N)^2 = 1/N to every entry
        links = write_links(links, alpha, gate, beta, clip=2.0)
    assert torch.isneginf(links[0, 0, 2, 1])
    finite = links[torch.isfinite(links)]
    assert torch.allclose(finite, torch.full_like(finite, 2.0))


def test_writer_never_points_at_itself_or_padding_and_padding_never_writes():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    writer = LinkWriter(cfg)
    torch.nn.init.normal_(writer.gate.weight, std=1.0)
    z = torch.randn(2, 6, cfg.d_model)
    kpm = torch.zeros(2, 6, dtype=torch.bool)
    kpm[1, 4:] = True
    new = writer(z, torch.zeros(2, cfg.num_heads, 6, 6), kpm)
    assert (new[1, :, 4:, :] == 0).all() and (new[1, :, :, 4:] == 0).all()
    assert (new[0] != 0).any()
    alpha = writer.pointers(writer.src, z, kpm)
    assert (alpha.diagonal(dim1=-2, dim2=-1) == 0).all()
    assert (alpha[1, :, :, 4:] == 0).all()  # nobody points at padding
    assert torch.allclose(alpha.sum(-1), torch.ones(2, cfg.num_heads, 6))


def test_gradients_reach_pointer_and_gate_parameters():
    torch.manual_seed(0)
    enc = LinkEditingEncoder(tiny_cfg(num_steps=3))
    x = torch.randn(2, 7, 32)
    enc(x).last_hidden_state.pow(2).sum().backward()
    # Gates start at zero (links keep their structural value), so only the gate gets a gradient...
    assert enc.writer.gate.weight.grad.abs().sum() > 0
    enc.zero_grad()
    # ...and once gates are open, the pointers do too.
    torch.nn.init.normal_(enc.writer.gate.weight, std=0.5)
    enc(x).last_hidden_state.pow(2).sum().backward()
    for p in (enc.writer.src.weight, enc.writer.dst.weight, enc.writer.gate.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_looped_baseline_keeps_links_fixed():
    enc = LinkEditingEncoder(tiny_cfg(edit_links=False))
    links = torch.randn(2, 5, 5)
    out = enc(torch.randn(2, 5, 32), links=links)
    assert enc.writer is None
    assert torch.equal(out.carry.links, links[:, None].expand(2, 2, 5, 5))


def saved_bytes(enc: LinkEditingEncoder, x: torch.Tensor) -> int:
    """Bytes the autograd graph keeps for the backward of one forward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        enc(x).last_hidden_state.sum()
    return total


@pytest.mark.parametrize("grad", ["one_step", "implicit"])
def test_fixed_point_memory_does_not_grow_with_steps_while_unroll_does(grad):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 32)
    mem = {}
    for T in (2, 8):
        # fixed_point_tol=0: never converged early, so both runs iterate T times
        fp = LinkEditingEncoder(
            tiny_cfg(
                num_steps=T, recurrence="fixed_point", fixed_point_grad=grad, fixed_point_tol=0.0
            )
        )
        un = LinkEditingEncoder(tiny_cfg(num_steps=T, recurrence="unroll"))
        mem[T] = (saved_bytes(fp, x), saved_bytes(un, x))
    assert mem[2][0] == mem[8][0]
    assert mem[8][1] >= 3.5 * mem[2][1]


def test_unroll_backpropagates_through_last_k_steps_only():
    enc = LinkEditingEncoder(tiny_cfg(num_steps=6, grad_steps=2))
    out = enc(torch.randn(2, 5, 32))
    assert len(out.step_states) == 2 and len(out.halt_logits) == 2
    assert out.carry.steps.tolist() == [6, 6]
    x = torch.randn(2, 5, 32)
    full = saved_bytes(LinkEditingEncoder(tiny_cfg(num_steps=6)), x)
    assert saved_bytes(enc, x) < full / 2


def test_implicit_gradient_matches_fully_unrolled_gradient():
    """At a converged fixed point the implicit gradient is the limit of the unrolled one."""
    x = torch.randn(2, 7, 32, dtype=torch.float64)
    kpm = torch.zeros(2, 7, dtype=torch.bool)
    kpm[1, 5:] = True
    grads = {}
    for name, kw in {
        "unroll": dict(recurrence="unroll"),
        "implicit": dict(recurrence="fixed_point", fixed_point_grad="implicit"),
    }.items():
        torch.manual_seed(1)
        cfg = tiny_cfg(
            num_steps=80, fixed_point_tol=1e-10, implicit_iters=100, attn_impl="reference", **kw
        )
        enc = LinkEditingEncoder(cfg).double()
        xx = x.clone().requires_grad_()
        enc(xx, key_padding_mask=kpm).last_hidden_state.sin().sum().backward()
        grads[name] = (xx.grad, enc.layers[0].mlp[0].weight.grad)
    for a, b in zip(grads["unroll"], grads["implicit"], strict=True):
        assert (a - b).norm() / a.norm() < 1e-6


def test_adaptive_stopping_uses_fewer_steps_on_a_converged_input():
    torch.manual_seed(0)
    enc = LinkEditingEncoder(tiny_cfg(num_steps=60, adaptive="converge", adaptive_tol=1e-4)).eval()
    x = torch.randn(3, 9, 32)
    with torch.no_grad():
        first = enc(x)
        again = enc(x, carry=first.carry)
    assert (first.steps_used > 1).all() and (first.steps_used < 60).all()
    assert again.steps_used.tolist() == [1, 1, 1]
    assert again.carry.steps.tolist() == (first.steps_used + 1).tolist()


def test_halting_head_decides_the_number_of_steps():
    enc = LinkEditingEncoder(tiny_cfg(num_steps=7, adaptive="halt")).eval()
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        enc.halt.weight.zero_()
        enc.halt.bias.fill_(10.0)
        assert enc(x).steps_used.tolist() == [1, 1]
        enc.halt.bias.fill_(-10.0)
        assert enc(x).steps_used.tolist() == [7, 7]


class HalvingBlock:
    """A `Block` whose step z <- (z + x) / 2 keeps the links and contracts to z* = x: from
    z_0 = 0, z_t = (1 - 2^-t) x, and step t >= 2 moves z by 1 / (2^t - 2) relative to z_{t-1}."""

    def __init__(self, cfg: EncoderConfig, training: bool) -> None:
        self.cfg = cfg
        self.training = training

    def step(self, z, links, x, key_padding_mask):
        return (z + x) / 2, links

    def halt_logit(self, z, key_padding_mask):
        return z.new_zeros(z.shape[0])


def zero_links(B: int) -> torch.Tensor:
    return torch.zeros(B, 2, 5, 5, dtype=torch.float64)  # (B, H, N, N) for tiny_cfg, N = 5


def test_converge_stops_each_example_when_a_known_contraction_settles():
    # tol 1e-3 lies between 1/(2^9 - 2) = 1/510 and 1/(2^10 - 2) = 1/1022: an example starting
    # at 0 stops after 10 steps; one starting at z* = x does not move and stops after 1.
    cfg = tiny_cfg(num_steps=50, adaptive="converge", adaptive_tol=1e-3)
    block = HalvingBlock(cfg, training=False)
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    carry = Carry(torch.stack([torch.zeros_like(x[0]), x[1]]), zero_links(2), torch.tensor([0, 5]))
    out = run_recurrence(block, x, carry, None, num_steps=50)
    assert out.steps_used.tolist() == [10, 1]
    assert out.carry.steps.tolist() == [10, 6]
    assert torch.allclose(out.last_hidden_state[0], (1 - 2**-10) * x[0])
    assert torch.equal(out.last_hidden_state[1], x[1])
    assert run_recurrence(block, x, carry, None, num_steps=6).steps_used.tolist() == [6, 1]


@pytest.mark.parametrize("grad,expected", [("one_step", 0.5), ("implicit", 1.0)])
def test_fixed_point_gradient_of_a_known_contraction(grad, expected):
    # z* = x, so dz*/dx = 1, which the implicit gradient recovers; the one-step gradient goes
    # through the last application only: d((z + x) / 2)/dx = 1/2.
    cfg = tiny_cfg(
        num_steps=50,
        recurrence="fixed_point",
        fixed_point_grad=grad,
        fixed_point_tol=1e-3,
        implicit_iters=30,
        edit_links=False,
    )
    x = torch.randn(2, 5, 32, dtype=torch.float64, requires_grad=True)
    carry = Carry(torch.zeros_like(x), zero_links(2), torch.zeros(2, dtype=torch.long))
    out = run_recurrence(HalvingBlock(cfg, training=True), x, carry, None, num_steps=50)
    assert out.steps_used.tolist() == [11, 11]  # 10 without a graph until converged, 1 with
    out.last_hidden_state.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, expected), atol=1e-6)


def test_structural_links_are_checked():
    enc = LinkEditingEncoder(tiny_cfg())
    with pytest.raises(ValueError, match="links must be"):
        enc(torch.randn(2, 5, 32), links=torch.zeros(2, 4, 4))


@pytest.mark.parametrize(
    "kw,message",
    [
        (dict(d_model=30, num_heads=4), "divisible"),
        (dict(recurrence="scan"), "recurrence must be"),
        (dict(score="cos"), "score must be"),
        (dict(grad_steps=0), "grad_steps"),
        (dict(attn_impl="flash"), "attn_impl must be"),
    ],
)
def test_config_rejects_bad_values(kw, message):
    with pytest.raises(ValueError, match=message):
        tiny_cfg(**kw)


@pytest.mark.parametrize("layers", [None, 1, 3])
def test_plain_baseline_matches_parameter_count(layers):
    from prover.model.baselines import (
        PlainEncoder,
        matched_looped_config,
        matched_plain_config,
        num_params,
    )

    cfg = tiny_cfg(num_layers=2)
    plain = PlainEncoder(matched_plain_config(cfg, layers))
    target = num_params(LinkEditingEncoder(cfg))
    assert abs(num_params(plain) - target) <= 2 * cfg.d_model * (layers or 2)
    looped = LinkEditingEncoder(matched_looped_config(cfg))
    assert looped.writer is None and not looped.cfg.edit_links
    assert abs(num_params(looped) - target) <= 2 * cfg.d_model * 2
    kpm = torch.zeros(2, 5, dtype=torch.bool)
    kpm[1, 3:] = True
    out = plain(torch.randn(2, 5, 32), key_padding_mask=kpm)
    assert out.last_hidden_state.shape == (2, 5, 32) and torch.isfinite(out.last_hidden_state).all()


def test_top_k_pointers_equal_dense_pointers_when_k_covers_every_token():
    torch.manual_seed(0)
    dense = LinkWriter(tiny_cfg(pointer_topk=None))
    sparse = LinkWriter(tiny_cfg(pointer_topk=6))
    sparse.load_state_dict(dense.state_dict())
    torch.nn.init.normal_(dense.gate.weight, std=1.0)
    sparse.gate.weight.data.copy_(dense.gate.weight)
    z = torch.randn(2, 7, 32)
    kpm = torch.zeros(2, 7, dtype=torch.bool)
    kpm[1, 5:] = True
    links = torch.randn(2, 2, 7, 7)
    # N = 7 tokens, each may point at the 6 others: top-6 keeps every target.
    assert torch.allclose(dense(z, links, kpm), sparse(z, links, kpm), atol=1e-6)


def test_top_k_pointers_write_at_most_k_by_k_pairs_per_token():
    torch.manual_seed(0)
    writer = LinkWriter(tiny_cfg(pointer_topk=2))
    torch.nn.init.normal_(writer.gate.weight, std=1.0)
    new = writer(torch.randn(1, 30, 32), torch.zeros(1, 2, 30, 30), None)
    written = (new != 0).sum(dim=(-1, -2))  # (1, H)
    assert (written > 0).all() and (written <= 30 * 2 * 2).all()
    new.sum().backward()
    assert writer.src.weight.grad.abs().sum() > 0 and writer.gate.weight.grad.abs().sum() > 0


def _dense_pointers(weights: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """(B, H, N, k) top-k (weights, indices) -> the (B, H, N, N) pointer matrix they stand for."""
    return weights.new_zeros(*weights.shape[:-1], n).scatter_add(-1, index, weights)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_sparse_write_equals_dense_write_in_values_and_gradients(k):
    from prover.model.encoder import write_links, write_links_sparse

    torch.manual_seed(k)
    B, H, N, clip = 2, 3, 7, 1.5
    links = (torch.randn(B, H, N, N) * 0.8).clamp(-clip, clip)
    links[0, 1, 2, 5] = float("-inf")  # a destroyed link stays destroyed
    links[1, 0, 3, 3] = float("-inf")
    links.requires_grad_()
    gate = torch.randn(B, H, N, requires_grad=True)
    # Repeated indices within and across tokens: several tokens write the same pairs.
    a_i = torch.randint(0, N, (B, H, N, k))
    b_i = torch.randint(0, N, (B, H, N, k))
    a_i[..., 0] = 5
    b_i[..., 0] = 2
    links.data[1, 2, 5, 2] = float("-inf")  # ... and one of those pairs is destroyed
    a_w = torch.rand(B, H, N, k).softmax(-1).requires_grad_()
    b_w = torch.rand(B, H, N, k).softmax(-1).requires_grad_()
    # Big gates push sums past the clip, so clipping happens at edited pairs.
    sparse = write_links_sparse(links, (a_w, a_i), gate * 3, (b_w, b_i), clip)
    dense = write_links(
        links, _dense_pointers(a_w, a_i, N), gate * 3, _dense_pointers(b_w, b_i, N), clip
    )
    assert torch.isneginf(sparse[0, 1, 2, 5]) and torch.isneginf(sparse[1, 0, 3, 3])
    assert torch.isneginf(sparse[1, 2, 5, 2])
    assert (sparse.abs() == clip).any()  # the clip was exercised
    assert torch.equal(torch.isneginf(sparse), torch.isneginf(dense))
    finite = torch.isfinite(dense)
    assert torch.allclose(sparse[finite], dense[finite], atol=1e-6)
    probe = torch.randn(B, H, N, N)
    grads = []
    for out in (sparse, dense):
        loss = (out.masked_fill(~finite, 0.0) * probe).sum()
        grads.append(torch.autograd.grad(loss, (links, gate, a_w, b_w)))
    for gs, gd in zip(*grads, strict=True):
        assert torch.allclose(gs, gd, atol=1e-5)
    assert links.grad is None  # the caller's tensor is untouched
    assert torch.isneginf(links[0, 1, 2, 5])


def test_sparse_write_leaves_the_input_links_unchanged():
    from prover.model.encoder import write_links_sparse

    links = torch.zeros(1, 1, 5, 5)
    before = links.clone()
    idx = torch.tensor([[[[1], [2], [3], [4], [0]]]])
    w = torch.ones(1, 1, 5, 1)
    out = write_links_sparse(links, (w, idx), torch.ones(1, 1, 5), (w, idx), 5.0)
    assert torch.equal(links, before)  # carries resumed from this state must not change
    assert out.sum() == 5 and out.count_nonzero() == 5


def test_initial_links_are_clipped_when_the_encoder_writes():
    cfg = tiny_cfg(link_clip=2.0)
    x = torch.randn(1, 4, 32)
    links = torch.tensor([[9.0, -9.0, 1.0, float("-inf")]]).expand(4, 4)[None]
    L0 = LinkEditingEncoder(cfg).initial_carry(x, links).links
    assert L0[0, 0, 0].tolist() == [2.0, -2.0, 1.0, float("-inf")]
    frozen = LinkEditingEncoder(dataclasses.replace(cfg, edit_links=False))
    assert frozen.initial_carry(x, links).links[0, 0, 0, 0] == 9.0  # looped: structure as given


def test_write_every_k_steps_follows_each_examples_global_step():
    torch.manual_seed(0)
    cfg = tiny_cfg(write_every=2, num_steps=4, gate_init_std=1.0)
    enc = LinkEditingEncoder(cfg).eval()
    x = torch.randn(2, 5, 32)
    one = enc(x, num_steps=1)
    assert torch.equal(one.carry.links, torch.zeros(2, 2, 5, 5))  # global step 1: no write
    two = enc(x, carry=one.carry, num_steps=1)  # continued: global step 2 writes
    assert (two.carry.links.abs().sum(dim=(1, 2, 3)) > 0).all()
    # Examples at different global steps: only the one reaching an even step writes.
    mixed = Carry(one.carry.z, one.carry.links, torch.tensor([0, 1]))
    out = enc(x, carry=mixed, num_steps=1)
    assert out.carry.links[0].abs().sum() == 0 and out.carry.links[1].abs().sum() > 0
    # Training: the writer learns through the steps that write.
    enc.train()
    enc(x).last_hidden_state.pow(2).sum().backward()
    assert enc.writer.src.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "changes",
    [
        dict(recurrence="fixed_point"),
        dict(adaptive="converge"),
        dict(grad_steps=1),
    ],
)
def test_write_every_refuses_settings_that_would_misread_it(changes):
    with pytest.raises(ValueError, match="write_every"):
        tiny_cfg(write_every=2, num_steps=4, **changes)


def test_closed_gates_draw_nothing_from_the_rng():
    """gate_init_std=0 must not shift a seeded model's other initial weights."""
    cfg = tiny_cfg()
    H, P, d = cfg.num_heads, cfg.pointer_dim, cfg.d_model
    torch.manual_seed(0)
    LinkWriter(cfg)
    after_writer = torch.rand(3)
    torch.manual_seed(0)
    for fan_out in (2 * H * P, 2 * H * P, H):  # src, dst, gate: their own default inits
        torch.nn.Linear(d, fan_out)
    assert torch.equal(after_writer, torch.rand(3))
