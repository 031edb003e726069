"""Tests for kernels/link_attention.py: the fused Triton forward and backward (dq, dk, dv,
dlinks) against the reference computed in float64, on fresh random inputs every run; and the
FLOP count the benchmark reports.

Without a GPU the kernels run under TRITON_INTERPRET=1 (set in conftest.py) in float32; the
`gpu` tests add bf16/fp16 and longer sequences on a CUDA device.
Run: pytest tests/test_link_attention.py
"""

from __future__ import annotations

import itertools

import pytest
import torch

from kernels.link_attention import (
    attention_flops,
    default_impl,
    link_attention,
    link_attention_reference,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Max error relative to the reference's largest entry (at least 0.1, so that gradients that
# are exactly zero, e.g. with a single key, are compared absolutely).
TOLERANCE = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}
NS = (1, 7, 64, 81, 130)  # not multiples of the block sizes, except 64
HEAD_DIMS = (16, 32, 64)
NAMES = ("out", "dq", "dk", "dv", "dlinks")


def make_inputs(B, H, N, D, *, pad, neginf, seed=None):
    """float64 (fp32-representable) q, k, v, links, upstream gradient and padding mask on DEVICE.

    With pad, batch 0 pads its second half and, when B > 1, batch 1 is all padding (every row
    fully masked); with neginf, 30% of links are -inf and row 0 of (0, 0) is all -inf."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    # Values representable in fp32: the reference then sees exactly the kernel's inputs, so
    # the L1 score's sign(q - k) agrees even for near-ties (rounding could flip it otherwise).
    q, k, v, dout = (torch.randn(B, H, N, D, generator=g).double() for _ in range(4))
    links = torch.randn(B, H, N, N, generator=g).double()
    if neginf:
        links[torch.rand(B, H, N, N, generator=g) < 0.3] = float("-inf")
        links[0, 0, 0, :] = float("-inf")
    kpm = None
    if pad:
        kpm = torch.zeros(B, N, dtype=torch.bool)
        kpm[0, N // 2 + 1 :] = True
        if B > 1:
            kpm[1, :] = True
        kpm = kpm.to(DEVICE)
    to = lambda t: t.to(DEVICE)  # noqa: E731
    return to(q), to(k), to(v), to(links), to(dout), kpm


def forward_backward(fn, tensors, dout, dtype, **kw):
    xs = [t.detach().to(dtype).requires_grad_() for t in tensors]
    out = fn(*xs, **kw)
    grads = torch.autograd.grad(out, xs, dout.to(dtype))
    return [out, *grads]


def assert_close(expected, got, dtype, context):
    tol = TOLERANCE[dtype]
    for name, x, y in zip(NAMES, expected, got, strict=True):
        y = y.double()
        assert torch.isfinite(y).all(), f"{context}: {name} has NaN/inf"
        err = (x - y).abs()
        scale = max(x.abs().max().item(), 0.1)
        rel_max, rel_mean = err.max().item() / scale, err.mean().item() / scale
        assert rel_max < tol, f"{context}: {name} max rel err {rel_max:.2e} (mean {rel_mean:.2e})"


def check(N, D, score, *, causal, pad, neginf, dtype=torch.float32, B=2, H=2):
    q, k, v, links, dout, kpm = make_inputs(B, H, N, D, pad=pad, neginf=neginf)
    kw = dict(score=score, key_padding_mask=kpm, causal=causal)
    ref = forward_backward(link_attention_reference, (q, k, v, links), dout, torch.float64, **kw)
    tri = forward_backward(link_attention, (q, k, v, links), dout, dtype, impl="triton", **kw)
    context = f"N={N} D={D} score={score} causal={causal} pad={pad} neginf={neginf} {dtype}"
    assert_close(ref, tri, dtype, context)
    if pad and B > 1:  # batch 1 is all padding: exactly zero output and gradients
        for name, t in zip(NAMES, tri, strict=True):
            assert (t[1] == 0).all(), f"{context}: {name} of a fully masked row is not zero"
    return ref, tri


@pytest.mark.parametrize(
    "N,D,score,causal", list(itertools.product(NS, HEAD_DIMS, ("dot", "l1"), (False, True)))
)
def test_triton_matches_reference_masked(N, D, score, causal):
    check(N, D, score, causal=causal, pad=True, neginf=True)


@pytest.mark.parametrize("N,score", list(itertools.product(NS, ("dot", "l1"))))
def test_triton_matches_reference_unmasked(N, score):
    check(N, 32, score, causal=False, pad=False, neginf=False)


def test_links_bias_attention_toward_a_key():
    """A large link (i, j) makes token i copy value j, whatever q and k say."""
    N, D = 9, 16
    q, k, v, links, _, _ = make_inputs(1, 1, N, D, pad=False, neginf=False, seed=0)
    links = torch.zeros_like(links)
    links[0, 0, 3, 5] = 30.0
    for impl in ("triton", "reference"):
        out = link_attention(q.float(), k.float(), v.float(), links.float(), impl=impl)
        assert torch.allclose(out[0, 0, 3], v[0, 0, 5].float(), atol=1e-4), impl


def test_strided_inputs_and_shared_links():
    """(B, N, H, D) activations viewed as (B, H, N, D), and links shared by heads via expand."""
    B, N, H, D = 2, 37, 3, 32
    g = torch.Generator().manual_seed(1)
    qkv = torch.randn(B, N, 3, H, D, generator=g, dtype=torch.float64).to(DEVICE)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # (B, H, N, D), strided
    links = torch.randn(B, 1, N, N, generator=g, dtype=torch.float64).to(DEVICE)
    dout = torch.randn(B, H, N, D, generator=g, dtype=torch.float64).to(DEVICE)
    assert not q.is_contiguous()

    def run(fn, dtype, **kw):
        xs = [t.detach().to(dtype).requires_grad_() for t in (q, k, v, links)]
        out = fn(xs[0], xs[1], xs[2], xs[3].expand(B, H, N, N), score="l1", **kw)
        return [out, *torch.autograd.grad(out, xs, dout.to(dtype))]

    ref = run(link_attention_reference, torch.float64)
    tri = run(link_attention, torch.float32, impl="triton")
    assert tri[4].shape == (B, 1, N, N)  # expand's backward summed the heads
    assert_close(ref, tri, torch.float32, "strided")


@pytest.mark.parametrize("causal,pad", [(False, False), (True, True)])
def test_sdpa_path_matches_reference(causal, pad):
    q, k, v, links, dout, kpm = make_inputs(2, 2, 50, 32, pad=pad, neginf=True)
    kw = dict(score="dot", key_padding_mask=kpm, causal=causal)
    ref = forward_backward(link_attention_reference, (q, k, v, links), dout, torch.float64, **kw)
    got = forward_backward(link_attention, (q, k, v, links), dout, torch.float32, impl="sdpa", **kw)
    assert_close(ref, got, torch.float32, "sdpa")


def test_auto_never_picks_triton_on_cpu():
    q = torch.zeros(1, 1, 4, 16)
    assert default_impl(q, "dot") == "sdpa"
    assert default_impl(q, "l1") == "reference"


def test_attention_flops_counts_the_backward_only_when_asked():
    # B=1, H=2, N=3, D=4: one N x N x D product is 1 * 2 * 3 * 3 * 4 = 72 multiply-adds, 144
    # FLOPs. The forward has 2 products (QK^T, PV): 288; the backward 5 (dV, dP, dQ, dK and the
    # recomputed S): 720, so 1008 in all. Causal attention computes half of each product.
    assert attention_flops(1, 2, 3, 4, causal=False, include_backward=False) == 288
    assert attention_flops(1, 2, 3, 4, causal=False, include_backward=True) == 1008
    assert attention_flops(1, 2, 3, 4, causal=True, include_backward=False) == 144
    assert attention_flops(1, 2, 3, 4, causal=True, include_backward=True) == 504


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(links=torch.zeros(1, 1, 4, 5)), "links must be"),
        (dict(score="cosine"), "score must be"),
        (dict(key_padding_mask=torch.zeros(1, 4)), "key_padding_mask must be"),
        (dict(score="l1", impl="sdpa"), "supports only score='dot'"),
        (dict(impl="cuda"), "impl must be"),
    ],
)
def test_bad_arguments_get_clear_errors(change, message):
    args = dict(links=torch.zeros(1, 1, 4, 4), score="dot", key_padding_mask=None, impl="auto")
    args.update(change)
    q = torch.zeros(1, 1, 4, 16)
    with pytest.raises(ValueError, match=message):
        link_attention(q, q, q, **args)


def test_triton_refuses_unsupported_head_dim():
    q = torch.zeros(1, 1, 4, 24, device=DEVICE)
    with pytest.raises(AssertionError, match="head dim"):
        link_attention(q, q, q, torch.zeros(1, 1, 4, 4, device=DEVICE), impl="triton")


@pytest.mark.gpu
@pytest.mark.parametrize(
    "dtype,N,score,causal",
    list(
        itertools.product(
            (torch.bfloat16, torch.float16), (130, 512, 1000), ("dot", "l1"), (False, True)
        )
    ),
)
def test_triton_low_precision_on_gpu(dtype, N, score, causal):
    check(N, 64, score, causal=causal, pad=True, neginf=True, dtype=dtype, B=2, H=4)


def test_links_without_gradient_skip_dlinks():
    """Frozen links (the looped baseline): dq, dk, dv still match and no dlinks is made."""
    q, k, v, links, dout, kpm = make_inputs(2, 2, 45, 16, pad=True, neginf=True)
    kw = dict(score="dot", key_padding_mask=kpm, causal=True)
    ref_in = [t.detach().requires_grad_() for t in (q, k, v)]
    ref = link_attention_reference(*ref_in, links, **kw)
    expected = [ref, *torch.autograd.grad(ref, ref_in, dout)]
    tri_in = [t.detach().float().requires_grad_() for t in (q, k, v)]
    frozen = links.float()
    out = link_attention(*tri_in, frozen, impl="triton", **kw)
    got = [out, *torch.autograd.grad(out, tri_in, dout.float())]
    assert frozen.grad is None
    assert_close(expected + [torch.zeros(1)], got + [torch.zeros(1)], torch.float32, "frozen")
