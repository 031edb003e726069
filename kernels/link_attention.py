"""Link-biased attention: fused Triton kernels, the PyTorch reference, the autograd wrapper
and the dispatcher.

Per batch b and head h, with q_i, k_j, v_j in R^D, a link matrix L in R^{N x N} and
s = 1/sqrt(D):

    S[i, j] = s * (q_i . k_j) + L[i, j]                score="dot"
    S[i, j] = -s * ||q_i - k_j||_1 + L[i, j]           score="l1"
    S[i, j] = -inf  where key j is padding, or j > i with causal=True
    P = softmax_j(S),  out_i = sum_j P[i, j] v_j       (a row with no finite score: out_i = 0)

L may hold -inf (a destroyed link); +inf and NaN are not allowed. The forward kernel is an
online softmax (FlashAttention, Dao et al. 2022, arXiv:2205.14135): it keeps a running max m_i,
a running sum l_i and an output accumulator per query row and never writes P to global
memory; it saves lse_i = m_i + log(l_i) for the backward (0 for a fully masked row, so that
exp(S - lse) = 0 there). The backward follows FlashAttention-2 (arXiv:2307.08691):

    delta_i = dO_i . out_i
    dP[i, j] = dO_i . v_j
    dS[i, j] = P[i, j] * (dP[i, j] - delta_i)          = dL[i, j]
    dv_j = sum_i P[i, j] dO_i
    dot: dq_i = s sum_j dS[i, j] k_j                   dk_j = s sum_i dS[i, j] q_i
    l1:  dq_i = -s sum_j dS[i, j] sign(q_i - k_j)      dk_j = s sum_i dS[i, j] sign(q_i - k_j)

One kernel computes dk, dv (a program per key block, looping over query blocks), another dq
and dL (a program per query block, looping over key blocks), so no atomics are needed.

On the CPU, set TRITON_INTERPRET=1 before triton is imported to run the kernels in Triton's
interpreter (fp32 only); `impl="auto"` never picks Triton there.
"""

from __future__ import annotations

import os
from typing import Literal

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

Score = Literal["dot", "l1"]
Impl = Literal["auto", "triton", "sdpa", "reference"]

SUPPORTED_HEAD_DIMS = (16, 32, 64, 128)
SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


# --- Triton kernels ---


@triton.jit
def _load_rows(Base, offs_t, offs_d, stride_t, stride_d, N):
    """Base[offs_t, offs_d] as a (len(offs_t), len(offs_d)) tile; rows past N read 0."""
    ptrs = Base + offs_t[:, None] * stride_t + offs_d[None, :] * stride_d
    return tl.load(ptrs, mask=offs_t[:, None] < N, other=0.0)


@triton.jit
def _scores_with_links(
    q, k, L, offs_m, offs_n, stride_li, stride_lj, sm_scale, N,
    SCORE_L1: tl.constexpr, DOT_PRECISION: tl.constexpr,
):  # fmt: skip
    """(BLOCK_M, BLOCK_N) fp32 scores S = score(q, k) + L; pairs outside N x N read -inf."""
    if SCORE_L1:
        diff = q.to(tl.float32)[:, None, :] - k.to(tl.float32)[None, :, :]
        s = -tl.sum(tl.abs(diff), axis=2) * sm_scale
    else:
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * sm_scale
    in_bounds = (offs_m[:, None] < N) & (offs_n[None, :] < N)
    links = tl.load(
        L + offs_m[:, None] * stride_li + offs_n[None, :] * stride_lj,
        mask=in_bounds,
        other=float("-inf"),
    )
    return s + links.to(tl.float32)


@triton.jit
def _valid(
    offs_m, offs_n, Pad, stride_pt, N, HAS_PAD: tl.constexpr, CAUSAL: tl.constexpr
):  # fmt: skip
    """(BLOCK_M, BLOCK_N) bool: the pair is inside the sequence, not padding, not in the future."""
    valid = (offs_m[:, None] < N) & (offs_n[None, :] < N)
    if HAS_PAD:
        pad = tl.load(Pad + offs_n * stride_pt, mask=offs_n < N, other=1)
        valid = valid & (pad == 0)[None, :]
    if CAUSAL:
        valid = valid & (offs_n[None, :] <= offs_m[:, None])
    return valid


@triton.jit
def _sign(x):
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))


# fmt: off
@triton.jit
def _attn_fwd(
    Q, K, V, L, Pad, Out, Lse,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_lb, stride_lh, stride_li, stride_lj,
    stride_pb, stride_pt,
    stride_ob, stride_oh, stride_ot, stride_od,
    H, N, sm_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    SCORE_L1: tl.constexpr, CAUSAL: tl.constexpr, HAS_PAD: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    # fmt: on
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    Q += b * stride_qb + h * stride_qh
    K += b * stride_kb + h * stride_kh
    V += b * stride_vb + h * stride_vh
    L += b * stride_lb + h * stride_lh
    Pad += b * stride_pb
    Out += b * stride_ob + h * stride_oh
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    q = _load_rows(Q, offs_m, offs_d, stride_qt, stride_qd, N)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    hi = N
    if CAUSAL:
        hi = tl.minimum((pid_m + 1) * BLOCK_M, N)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(K, offs_n, offs_d, stride_kt, stride_kd, N)
        v = _load_rows(V, offs_n, offs_d, stride_vt, stride_vd, N)
        s = _scores_with_links(
            q, k, L, offs_m, offs_n, stride_li, stride_lj, sm_scale, N, SCORE_L1, DOT_PRECISION
        )
        s = tl.where(_valid(offs_m, offs_n, Pad, stride_pt, N, HAS_PAD, CAUSAL), s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # A row with no finite score yet keeps m = -inf; shift by 0 there so that
        # exp(-inf - (-inf)) never produces NaN.
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp(s - m_safe[:, None])
        alpha = tl.exp(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new

    is_empty = l_i == 0.0
    l_safe = tl.where(is_empty, 1.0, l_i)
    lse = tl.where(is_empty, 0.0, m_i + tl.log(l_safe))
    out = acc / l_safe[:, None]
    row_ok = offs_m < N
    out_ptrs = Out + offs_m[:, None] * stride_ot + offs_d[None, :] * stride_od
    tl.store(out_ptrs, out.to(Out.dtype.element_ty), mask=row_ok[:, None])
    tl.store(Lse + pid_bh * N + offs_m, lse, mask=row_ok)


# fmt: off
@triton.jit
def _attn_bwd_dkdv(
    Q, K, V, L, Pad, DO, Lse, Delta, DK, DV,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_lb, stride_lh, stride_li, stride_lj,
    stride_pb, stride_pt,
    stride_dob, stride_doh, stride_dot, stride_dod,
    H, N, sm_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    SCORE_L1: tl.constexpr, CAUSAL: tl.constexpr, HAS_PAD: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    # fmt: on
    """dk, dv for one key block; DK and DV are contiguous (B, H, N, D)."""
    pid_n = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    Q += b * stride_qb + h * stride_qh
    K += b * stride_kb + h * stride_kh
    V += b * stride_vb + h * stride_vh
    L += b * stride_lb + h * stride_lh
    Pad += b * stride_pb
    DO += b * stride_dob + h * stride_doh
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    k = _load_rows(K, offs_n, offs_d, stride_kt, stride_kd, N)
    v = _load_rows(V, offs_n, offs_d, stride_vt, stride_vd, N)

    dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    lo = 0
    if CAUSAL:
        # Queries before the block's first key attend to none of it.
        lo = (pid_n * BLOCK_N // BLOCK_M) * BLOCK_M
    for start_m in range(lo, N, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < N
        q = _load_rows(Q, offs_m, offs_d, stride_qt, stride_qd, N)
        do = _load_rows(DO, offs_m, offs_d, stride_dot, stride_dod, N)
        lse = tl.load(Lse + pid_bh * N + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(Delta + pid_bh * N + offs_m, mask=row_ok, other=0.0)
        s = _scores_with_links(
            q, k, L, offs_m, offs_n, stride_li, stride_lj, sm_scale, N, SCORE_L1, DOT_PRECISION
        )
        valid = _valid(offs_m, offs_n, Pad, stride_pt, N, HAS_PAD, CAUSAL)
        p = tl.where(valid, tl.exp(s - lse[:, None]), 0.0)
        dv += tl.dot(tl.trans(p).to(do.dtype), do, input_precision=DOT_PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        ds = p * (dp - delta[:, None])
        if SCORE_L1:
            sign = _sign(q.to(tl.float32)[:, None, :] - k.to(tl.float32)[None, :, :])
            dk += tl.sum(ds[:, :, None] * sign, axis=0)
        else:
            dk += tl.dot(tl.trans(ds).to(q.dtype), q, input_precision=DOT_PRECISION)

    col_ok = offs_n[:, None] < N
    out_offs = pid_bh * N * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(DK + out_offs, (dk * sm_scale).to(DK.dtype.element_ty), mask=col_ok)
    tl.store(DV + out_offs, dv.to(DV.dtype.element_ty), mask=col_ok)


# fmt: off
@triton.jit
def _attn_bwd_dq(
    Q, K, V, L, Pad, DO, Lse, Delta, DQ, DL,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_lb, stride_lh, stride_li, stride_lj,
    stride_pb, stride_pt,
    stride_dob, stride_doh, stride_dot, stride_dod,
    H, N, sm_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    SCORE_L1: tl.constexpr, CAUSAL: tl.constexpr, HAS_PAD: tl.constexpr,
    DOT_PRECISION: tl.constexpr, STORE_DL: tl.constexpr,
):
    # fmt: on
    """dq and dL for one query block; DQ is contiguous (B, H, N, D), DL contiguous (B, H, N, N)."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    Q += b * stride_qb + h * stride_qh
    K += b * stride_kb + h * stride_kh
    V += b * stride_vb + h * stride_vh
    L += b * stride_lb + h * stride_lh
    Pad += b * stride_pb
    DO += b * stride_dob + h * stride_doh
    DL += pid_bh * N * N
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < N
    q = _load_rows(Q, offs_m, offs_d, stride_qt, stride_qd, N)
    do = _load_rows(DO, offs_m, offs_d, stride_dot, stride_dod, N)
    lse = tl.load(Lse + pid_bh * N + offs_m, mask=row_ok, other=0.0)
    delta = tl.load(Delta + pid_bh * N + offs_m, mask=row_ok, other=0.0)

    dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    hi = N
    if CAUSAL:
        hi = tl.minimum((pid_m + 1) * BLOCK_M, N)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        k = _load_rows(K, offs_n, offs_d, stride_kt, stride_kd, N)
        v = _load_rows(V, offs_n, offs_d, stride_vt, stride_vd, N)
        s = _scores_with_links(
            q, k, L, offs_m, offs_n, stride_li, stride_lj, sm_scale, N, SCORE_L1, DOT_PRECISION
        )
        valid = _valid(offs_m, offs_n, Pad, stride_pt, N, HAS_PAD, CAUSAL)
        p = tl.where(valid, tl.exp(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        ds = p * (dp - delta[:, None])
        if STORE_DL:
            in_bounds = row_ok[:, None] & (offs_n[None, :] < N)
            dl_ptrs = DL + offs_m[:, None] * N + offs_n[None, :]
            tl.store(dl_ptrs, ds.to(DL.dtype.element_ty), mask=in_bounds)
        if SCORE_L1:
            sign = _sign(q.to(tl.float32)[:, None, :] - k.to(tl.float32)[None, :, :])
            dq -= tl.sum(ds[:, :, None] * sign, axis=1)
        else:
            dq += tl.dot(ds.to(k.dtype), k, input_precision=DOT_PRECISION)

    dq_ptrs = DQ + pid_bh * N * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    tl.store(dq_ptrs, (dq * sm_scale).to(DQ.dtype.element_ty), mask=row_ok[:, None])


# --- launch helpers ---


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _block_sizes(score: Score, head_dim: int) -> tuple[int, int]:
    """(BLOCK_M, BLOCK_N). The L1 score materialises a (BLOCK_M, BLOCK_N, D) difference, so it
    gets smaller tiles; the interpreter runs one program at a time, so it gets bigger ones."""
    if _interpreting():
        return (32, 32) if score == "l1" else (64, 64)
    if score == "l1":
        return (16, 16) if head_dim >= 64 else (32, 32)
    return (64, 64) if head_dim <= 64 else (64, 32)


def _strides4(x: torch.Tensor) -> tuple[int, int, int, int]:
    s = x.stride()
    return s[0], s[1], s[2], s[3]


def _launch_args(q, k, v, links, pad):  # type: ignore[no-untyped-def]
    """Pointers and strides shared by the three kernels, in their order."""
    pad_arg = pad if pad is not None else q  # never read when HAS_PAD is False
    pad_strides = pad.stride() if pad is not None else (0, 0)
    return (
        [q, k, v, links, pad_arg],
        [*_strides4(q), *_strides4(k), *_strides4(v), *_strides4(links), *pad_strides],
    )


class _LinkAttentionTriton(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        links: torch.Tensor,
        pad: torch.Tensor | None,
        score: Score,
        causal: bool,
    ) -> torch.Tensor:
        B, H, N, D = q.shape
        assert q.dtype in SUPPORTED_DTYPES, f"link_attention[triton]: dtype {q.dtype} unsupported"
        assert k.dtype == q.dtype and v.dtype == q.dtype, "q, k, v must share one dtype"
        assert links.is_floating_point(), "links must be a floating-point tensor"
        assert D in SUPPORTED_HEAD_DIMS, f"head dim {D} not in {SUPPORTED_HEAD_DIMS}"
        assert q.device.type == "cuda" or _interpreting(), (
            "impl='triton' needs a CUDA device, or TRITON_INTERPRET=1 set before importing triton"
        )
        assert not _interpreting() or q.dtype == torch.float32, (
            "Triton's interpreter computes only float32 correctly"
        )
        pad_i8 = pad.to(torch.int8) if pad is not None else None
        out = torch.empty_like(q)
        lse = torch.empty((B, H, N), device=q.device, dtype=torch.float32)
        block_m, block_n = _block_sizes(score, D)
        ptrs, strides = _launch_args(q, k, v, links, pad_i8)
        meta = _meta(D, block_m, block_n, score, causal, pad_i8 is not None, q.dtype)
        grid = (triton.cdiv(N, block_m), B * H)
        _attn_fwd[grid](*ptrs, out, lse, *strides, *out.stride(), H, N, D**-0.5, **meta)
        ctx.save_for_backward(q, k, v, links, pad_i8, out, lse)
        ctx.score, ctx.causal = score, causal
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor):  # type: ignore[override]
        q, k, v, links, pad_i8, out, lse = ctx.saved_tensors
        B, H, N, D = q.shape
        dout = dout.contiguous()
        delta = (dout.float() * out.float()).sum(-1).contiguous()  # (B, H, N)
        dq = torch.empty((B, H, N, D), device=q.device, dtype=q.dtype)
        dk = torch.empty_like(dq)
        dv = torch.empty_like(dq)
        store_dl = ctx.needs_input_grad[3]
        dlinks = None
        if store_dl:
            # Entries no program visits (above the diagonal with causal=True) must read 0.
            dlinks = torch.zeros((B, H, N, N), device=q.device, dtype=links.dtype)
        block_m, block_n = _block_sizes(ctx.score, D)
        ptrs, strides = _launch_args(q, k, v, links, pad_i8)
        meta = _meta(D, block_m, block_n, ctx.score, ctx.causal, pad_i8 is not None, q.dtype)
        tail = (*strides, *dout.stride(), H, N, D**-0.5)
        _attn_bwd_dkdv[(triton.cdiv(N, block_n), B * H)](
            *ptrs, dout, lse, delta, dk, dv, *tail, **meta
        )
        dl_arg = dlinks if dlinks is not None else dq  # never written when STORE_DL is False
        _attn_bwd_dq[(triton.cdiv(N, block_m), B * H)](
            *ptrs, dout, lse, delta, dq, dl_arg, *tail, **meta, STORE_DL=store_dl
        )
        return dq, dk, dv, dlinks, None, None, None


def _meta(head_dim, block_m, block_n, score, causal, has_pad, dtype):  # type: ignore[no-untyped-def]
    return dict(
        HEAD_DIM=head_dim,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        SCORE_L1=score == "l1",
        CAUSAL=causal,
        HAS_PAD=has_pad,
        # fp32 inputs get full-precision dots (the GPU default, tf32, keeps ~10 mantissa bits).
        DOT_PRECISION="ieee" if dtype == torch.float32 else "tf32",
    )


# --- PyTorch paths ---


def _check_inputs(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    links: torch.Tensor,
    score: str,
    key_padding_mask: torch.Tensor | None,
) -> None:
    if q.dim() != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(
            f"link_attention: q, k, v must share one (B, H, N, D) shape; got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    B, H, N, _ = q.shape
    if tuple(links.shape) != (B, H, N, N):
        raise ValueError(
            f"link_attention: links must be (B, H, N, N) = {(B, H, N, N)}, got "
            f"{tuple(links.shape)} (use links.expand(...) to share links across heads)"
        )
    if score not in ("dot", "l1"):
        raise ValueError(f"link_attention: score must be 'dot' or 'l1', got {score!r}")
    if key_padding_mask is not None and (
        key_padding_mask.dtype != torch.bool or tuple(key_padding_mask.shape) != (B, N)
    ):
        raise ValueError(
            f"link_attention: key_padding_mask must be a (B, N) = {(B, N)} bool tensor "
            f"(True = padding), got {key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
        )


def _valid_pairs(
    N: int, key_padding_mask: torch.Tensor | None, causal: bool, device: torch.device
) -> torch.Tensor | None:
    """(B or 1, 1, N, N) bool, True where key j may be attended by query i; None if all may."""
    valid = None
    if key_padding_mask is not None:
        valid = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, N)
    if causal:
        lower = torch.ones(N, N, dtype=torch.bool, device=device).tril()[None, None]
        valid = lower if valid is None else valid & lower
    return valid


def safe_softmax(s: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim where a row of all -inf gives zeros (and zero gradients), not
    the NaN of torch.softmax."""
    m = s.detach().amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    p = torch.exp(s - m)
    denom = p.sum(-1, keepdim=True)
    return p / torch.where(denom > 0, denom, torch.ones_like(denom))


def link_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    links: torch.Tensor,
    *,
    score: Score = "dot",
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """Link-biased attention in PyTorch: q, k, v (B, H, N, D), links (B, H, N, N) -> (B, H, N, D).

    Materialises the (B, H, N, N) scores; any float dtype, any device; the ground truth.
    """
    _check_inputs(q, k, v, links, score, key_padding_mask)
    scale = q.shape[-1] ** -0.5
    if score == "dot":
        s = torch.matmul(q, k.transpose(-1, -2)) * scale  # (B, H, N, N)
    else:
        s = -scale * torch.cdist(q, k, p=1)  # (B, H, N, N); backward uses sign(0) = 0
    s = s + links.to(s.dtype)
    valid = _valid_pairs(q.shape[2], key_padding_mask, causal, q.device)
    if valid is not None:
        s = s.masked_fill(~valid, float("-inf"))
    return torch.matmul(safe_softmax(s).to(v.dtype), v)


def _link_attention_sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    links: torch.Tensor,
    key_padding_mask: torch.Tensor | None,
    causal: bool,
) -> torch.Tensor:
    """Dot score only: links (+ -inf masks) as SDPA's additive float mask, which PyTorch
    differentiates; a fully masked row gives zeros there too."""
    bias = links.to(q.dtype)
    valid = _valid_pairs(q.shape[2], key_padding_mask, causal, q.device)
    if valid is not None:
        bias = bias.masked_fill(~valid, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def default_impl(q: torch.Tensor, score: Score) -> Impl:
    """What impl="auto" resolves to: Triton on a GPU; on the CPU, SDPA for the dot score
    (fastest in bench/link_attention.py) and the reference for L1."""
    if q.device.type == "cuda" and q.shape[-1] in SUPPORTED_HEAD_DIMS:
        return "triton"
    return "sdpa" if score == "dot" else "reference"


def link_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    links: torch.Tensor,
    *,
    score: Score = "dot",
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    impl: Impl = "auto",
) -> torch.Tensor:
    """Link-biased attention: q, k, v (B, H, N, D), links (B, H, N, N) -> out (B, H, N, D).

    Differentiable in q, k, v and links. `impl`: "triton" (fused kernels), "sdpa" (dot score
    only), "reference", or "auto" (see `default_impl`).
    """
    _check_inputs(q, k, v, links, score, key_padding_mask)
    if impl == "auto":
        impl = default_impl(q, score)
    if impl == "triton":
        out: torch.Tensor = _LinkAttentionTriton.apply(
            q, k, v, links, key_padding_mask, score, causal
        )
        return out
    if impl == "sdpa":
        if score != "dot":
            raise ValueError("link_attention: impl='sdpa' supports only score='dot'")
        return _link_attention_sdpa(q, k, v, links, key_padding_mask, causal)
    if impl == "reference":
        return link_attention_reference(
            q, k, v, links, score=score, key_padding_mask=key_padding_mask, causal=causal
        )
    raise ValueError(f"link_attention: impl must be auto|triton|sdpa|reference, got {impl!r}")


def attention_flops(
    B: int, H: int, N: int, D: int, *, causal: bool, include_backward: bool
) -> float:
    """Matmul FLOPs: the forward's, plus the backward's when include_backward. Per (batch,
    head), the forward is 2 N x N x D products (QK^T, PV) at 2 FLOPs per multiply-add, the
    backward 5 (dV, dP, dQ, dK and the recomputed S), i.e. 2.5x the forward; causal halves
    both."""
    fwd = 4.0 * B * H * N * N * D
    if causal:
        fwd /= 2
    return fwd * (3.5 if include_backward else 1.0)


__all__ = [
    "SUPPORTED_HEAD_DIMS",
    "Impl",
    "Score",
    "attention_flops",
    "default_impl",
    "link_attention",
    "link_attention_reference",
    "safe_softmax",
]
