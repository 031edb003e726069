"""Link-biased attention, forward + backward (dq, dk, dv, dlinks): time and peak memory of each
implementation for N in {128, 512, 1024, 2048}.

On a GPU: the fused Triton kernels, the PyTorch reference and (dot score) SDPA with the links
as a float mask, in bf16; TFLOP/s from `attention_flops` (matmul FLOPs; the L1 score's
|q - k| sums are counted as if they were products) and the time ratio SDPA / Triton.
On the CPU: the reference and SDPA in fp32 (`impl="auto"` picks the faster); the Triton
interpreter checks correctness, not speed, and runs only with --interpret for N <= 128.

Run: .venv/bin/python bench/link_attention.py [--ns 128,512,1024,2048] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import sys

if "--interpret" in sys.argv:
    os.environ["TRITON_INTERPRET"] = "1"  # read when triton is first imported

import torch
from _common import peak_memory, print_table, time_call, write_json

from kernels.link_attention import attention_flops, link_attention


def make_inputs(B, H, N, D, dtype, device):  # type: ignore[no-untyped-def]
    g = torch.Generator(device=device).manual_seed(0)
    qkv = [torch.randn(B, H, N, D, generator=g, device=device, dtype=dtype) for _ in range(3)]
    links = torch.randn(B, H, N, N, generator=g, device=device, dtype=dtype)
    dout = torch.randn(B, H, N, D, generator=g, device=device, dtype=dtype)
    return [t.requires_grad_() for t in (*qkv, links)], dout


def measure(impl: str, score: str, N: int, args, device, dtype) -> dict:  # type: ignore[no-untyped-def]
    B, H, D = args.batch, args.heads, args.head_dim
    xs, dout = make_inputs(B, H, N, D, dtype, device)

    def fwd() -> torch.Tensor:
        return link_attention(*xs, score=score, impl=impl)

    def fwd_bwd() -> None:
        torch.autograd.grad(fwd(), xs, dout)

    with torch.no_grad():
        fwd_s = time_call(fwd, device, args.repeats)
    total_s = time_call(fwd_bwd, device, args.repeats)
    peak = peak_memory(fwd_bwd, device)
    flops = attention_flops(B, H, N, D, causal=False, include_backward=True)
    return {
        "impl": impl,
        "score": score,
        "N": N,
        "fwd_ms": fwd_s * 1e3,
        "fwd_bwd_ms": total_s * 1e3,
        "tflops": flops / total_s / 1e12,
        "peak_mib": None if peak is None else peak / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ns", default="128,512,1024,2048")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--interpret", action="store_true", help="CPU: also run Triton's interpreter")
    ap.add_argument("--json", default="bench/results/link_attention.json")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows = []
    for N in (int(n) for n in args.ns.split(",")):
        for score in ("dot", "l1"):
            impls = ["reference"] + (["sdpa"] if score == "dot" else [])
            if device.type == "cuda" or (args.interpret and N <= 128):
                impls.insert(0, "triton")
            for impl in impls:
                row = measure(impl, score, N, args, device, dtype)
                rows.append(row)
                print(
                    f"{impl:9s} {score:3s} N={N:5d} fwd+bwd {row['fwd_bwd_ms']:.2f} ms", flush=True
                )
    for row in rows:
        if row["impl"] == "triton":
            sdpa = [r for r in rows if r["impl"] == "sdpa" and r["N"] == row["N"]]
            ref = [r for r in rows if r["impl"] == "reference" and r["N"] == row["N"]
                   and r["score"] == row["score"]]  # fmt: skip
            if sdpa and row["score"] == "dot":
                row["sdpa_over_triton"] = sdpa[0]["fwd_bwd_ms"] / row["fwd_bwd_ms"]
            if ref:
                row["reference_over_triton"] = ref[0]["fwd_bwd_ms"] / row["fwd_bwd_ms"]
    columns = ["impl", "score", "N", "fwd_ms", "fwd_bwd_ms", "tflops", "peak_mib"]
    if device.type == "cuda":
        columns += ["sdpa_over_triton", "reference_over_triton"]
    print(f"\nB={args.batch} H={args.heads} D={args.head_dim} {dtype} on {device}")
    print_table(rows, columns)
    config = {k: getattr(args, k) for k in ("batch", "heads", "head_dim", "repeats")}
    write_json(args.json, {"config": {**config, "dtype": str(dtype)}, "rows": rows})


if __name__ == "__main__":
    main()
