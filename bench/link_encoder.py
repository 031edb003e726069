"""Training throughput (tokens/s) and peak memory of the link-editing encoder against a plain
transformer encoder of equal parameter count, the looped baseline (links frozen), and the
recurrence modes: `unroll` (gradients through all T steps) against `fixed_point` (one-step and
implicit gradients) for T in {4, 8, 16}.

One training step: token ids -> embedding -> encoder -> per-token linear head -> cross-entropy
-> backward -> AdamW. Fixed-point runs use fixed_point_tol=0, so they iterate exactly T steps
(an untrained block does not converge; timings compare like with like).

`--write-cost` instead measures what editing links costs at the two CSP sizes, N = 81 (Sudoku,
B=32, d=128, H=4, 2 layers, T=8) and N = 900 (maze, B=8, d=64, H=2, 1 layer, T=6), the last
2 steps with gradients: a training step of the looped model (links frozen) against the link
model with the dense write and with top-k pointers and the sparse write, and the ratio of each
to the looped step.

Run: .venv/bin/python bench/link_encoder.py [--steps 4,8,16] [--batch 8] [--seq 256] [--json OUT]
     .venv/bin/python bench/link_encoder.py --write-cost [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from _common import peak_memory, print_table, time_call, write_json
from torch import nn

from prover.model.baselines import PlainEncoder, matched_plain_config, num_params
from prover.model.config import EncoderConfig
from prover.model.encoder import LinkEditingEncoder

VOCAB = 512


class Tagger(nn.Module):
    """Embedding + encoder + per-token head: the smallest model that trains an encoder."""

    def __init__(self, encoder: nn.Module, d_model: int, max_len: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.encoder = encoder
        self.head = nn.Linear(d_model, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        return self.head(self.encoder(x).last_hidden_state)  # (B, N, VOCAB)


def variants(base: EncoderConfig, steps: list[int]) -> list[tuple[str, int, nn.Module]]:
    out: list[tuple[str, int, nn.Module]] = [("plain", 1, PlainEncoder(matched_plain_config(base)))]
    for T in steps:
        cfg = dataclasses.replace(base, num_steps=T)
        fp = dataclasses.replace(cfg, recurrence="fixed_point", fixed_point_tol=0.0)
        out += [
            ("link unroll", T, LinkEditingEncoder(cfg)),
            ("link fixed_point one_step", T, LinkEditingEncoder(fp)),
            ("link fixed_point implicit", T, LinkEditingEncoder(
                dataclasses.replace(fp, fixed_point_grad="implicit", implicit_iters=T))),
            ("looped unroll (frozen links)", T, LinkEditingEncoder(
                dataclasses.replace(cfg, edit_links=False))),
        ]  # fmt: skip
    return out


def measure(name: str, T: int, encoder: nn.Module, args, device) -> dict:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = Tagger(encoder, args.d_model, args.seq).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, VOCAB, (args.batch, args.seq), device=device)
    targets = torch.randint(0, VOCAB, (args.batch, args.seq), device=device)

    def train_step() -> None:
        logits = model(ids)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step_s = time_call(train_step, device, args.repeats)
    peak = peak_memory(train_step, device)
    return {
        "model": name,
        "T": T,
        "encoder_params": num_params(encoder),
        "ms_per_step": step_s * 1e3,
        "tokens_per_s": args.batch * args.seq / step_s,
        "peak_mib": None if peak is None else peak / 2**20,
    }


WRITE_COST_SIZES = {  # N -> (batch, the CSP preset's encoder at that size: T=8/6, K=2)
    81: (32, EncoderConfig(d_model=128, num_heads=4, d_ff=512, num_layers=2, pointer_dim=16,
                           num_steps=8, grad_steps=2)),
    900: (8, EncoderConfig(d_model=64, num_heads=2, d_ff=256, num_layers=1, pointer_dim=16,
                           num_steps=6, grad_steps=2)),
}  # fmt: skip


def write_cost(args: argparse.Namespace, device: torch.device) -> None:
    """Looped vs link (dense write, top-k sparse writes) at N = 81 and 900: ms per training
    step and the ratio to the looped step."""
    rows = []
    for n, (batch, base) in WRITE_COST_SIZES.items():
        run = argparse.Namespace(
            **{**vars(args), "batch": batch, "seq": n, "d_model": base.d_model}
        )
        looped_ms = None
        for name, cfg in (
            ("looped (frozen links)", dataclasses.replace(base, edit_links=False)),
            ("link, dense write", base),
            ("link, top-4 sparse write", dataclasses.replace(base, pointer_topk=4)),
            ("link, top-8 sparse write", dataclasses.replace(base, pointer_topk=8)),
        ):
            row = measure(name, cfg.num_steps, LinkEditingEncoder(cfg), run, device)
            looped_ms = looped_ms or row["ms_per_step"]
            rows.append({"N": n, "B": batch, **row, "vs_looped": row["ms_per_step"] / looped_ms})
            print(f"N={n} {name:26s} {row['ms_per_step']:9.1f} ms/step", flush=True)
    print(f"\nTraining steps (forward + backward + AdamW), presets' T and K=2, on {device}")
    print_table(rows, ["N", "B", "model", "ms_per_step", "vs_looped", "peak_mib"])
    write_json(args.json, {"config": {"threads": torch.get_num_threads()}, "rows": rows})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", default="4,8,16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write-cost", action="store_true", help="looped vs link at N=81 and 900")
    ap.add_argument("--json")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.write_cost:
        args.json = args.json or "bench/results/link_write_cost.json"
        write_cost(args, device)
        return
    args.json = args.json or "bench/results/link_encoder.json"
    base = EncoderConfig(
        d_model=args.d_model, num_heads=args.heads, d_ff=4 * args.d_model, num_layers=args.layers
    )
    rows = []
    for name, T, encoder in variants(base, [int(t) for t in args.steps.split(",")]):
        row = measure(name, T, encoder, args, device)
        rows.append(row)
        print(f"{name:30s} T={T:2d} {row['tokens_per_s']:,.0f} tok/s", flush=True)
    print(f"\nB={args.batch} N={args.seq} d={args.d_model} H={args.heads} on {device}")
    print_table(rows, ["model", "T", "encoder_params", "ms_per_step", "tokens_per_s", "peak_mib"])
    config = {k: getattr(args, k) for k in ("batch", "seq", "d_model", "heads", "layers")}
    write_json(args.json, {"config": config, "rows": rows})


if __name__ == "__main__":
    main()
