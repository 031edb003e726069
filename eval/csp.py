"""Evaluating CSP models and the exact solvers on Sudoku / maze files in the shared formats.

Metrics: exact_match (the whole grid right: the published metric), cell_accuracy over the cells
to fill (Sudoku blanks, maze open cells), mean recurrence steps used, puzzles per second; for
mazes also optimal_path (the prediction is *a* shortest path: Maze-Hard labels are one of
many). `--plot OUT.svg` draws accuracy against the number of recurrence steps.

Run: python -m eval.csp --task sudoku (--checkpoint DIR | --solver exact) --data FILE [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prover.csp import maze, sudoku
from prover.csp.model import CSPModel
from prover.csp.task import CSPData, TaskSpec, get_task, resolve_data
from prover.model.encoder import LinkEditingEncoder
from prover.overrides import Parser


def score(spec: TaskSpec, data: CSPData, predictions: np.ndarray) -> dict[str, float]:
    """exact_match, cell_accuracy (and optimal_path for mazes) of (P, N) predictions."""
    right = predictions == data.targets
    scored = spec.scored_cells(data.inputs)
    result = {
        "exact_match": float(right.all(1).mean()),
        "cell_accuracy": float(right[scored].mean()) if scored.any() else 1.0,
    }
    if spec.name == "maze":
        ok = [
            maze.is_optimal_path(p.astype(np.int8), q.astype(np.int8))
            for p, q in zip(predictions, data.inputs, strict=True)
        ]
        result["optimal_path"] = float(np.mean(ok))
    return result


@torch.no_grad()
def predict(
    model: CSPModel, data: CSPData, batch_size: int = 64, num_steps: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(P, N) predicted targets and (P,) recurrence steps used."""
    model.eval()
    device = next(model.parameters()).device
    preds, steps = [], []
    for start in range(0, len(data), batch_size):
        x = torch.from_numpy(data.inputs[start : start + batch_size]).to(device)
        out = model(x, num_steps=num_steps)
        preds.append(out.logits[-1].argmax(-1).cpu().numpy())
        steps.append(out.steps_used.cpu().numpy())
    return np.concatenate(preds), np.concatenate(steps)


def solve_exact(spec: TaskSpec, data: CSPData) -> np.ndarray:
    """Predictions of the exact solver (Sudoku: propagation + search; maze: BFS)."""
    out = np.empty_like(data.targets)
    for i, x in enumerate(data.inputs):
        if spec.name == "sudoku":
            sols = sudoku.solve(x.astype(np.int8), limit=1)
            out[i] = sols[0].astype(np.int64) - 1 if sols else -1
        else:
            sol = maze.solve(x.astype(np.int8))
            out[i] = sol if sol is not None else -1
    return out


def evaluate(
    task: str,
    data: CSPData,
    *,
    model: CSPModel | None = None,
    batch_size: int = 64,
    num_steps: int | None = None,
) -> dict[str, Any]:
    """The JSON record: {"task", "n", "exact_match", "cell_accuracy", "mean_steps",
    "puzzles_per_s", ...}; the exact solver when `model` is None."""
    spec = get_task(task)
    start = time.perf_counter()
    if model is None:
        preds, steps = solve_exact(spec, data), np.zeros(len(data))
    else:
        preds, steps = predict(model, data, batch_size, num_steps)
    elapsed = time.perf_counter() - start
    return {
        "task": task,
        "n": len(data),
        **score(spec, data, preds),
        "mean_steps": float(steps.mean()),
        "puzzles_per_s": len(data) / elapsed,
        "source": data.source,
    }


def accuracy_by_steps(
    task: str, data: CSPData, model: CSPModel, max_steps: int, batch_size: int = 64
) -> list[dict[str, Any]]:
    """exact_match and cell_accuracy with the recurrence cut at 1..max_steps steps."""
    enc = getattr(model.encoder, "cfg", None)
    if enc is None or model.cfg.kind == "plain":
        raise ValueError("the plain model has no recurrence to vary")
    rows = []
    for t in range(1, max_steps + 1):
        r = evaluate(task, data, model=model, batch_size=batch_size, num_steps=t)
        rows.append(
            {"steps": t, "exact_match": r["exact_match"], "cell_accuracy": r["cell_accuracy"]}
        )
    return rows


def write_svg(rows: list[dict[str, Any]], path: str | Path, title: str) -> None:
    """A small line plot of exact_match and cell_accuracy against recurrence steps."""
    w, h, m = 480, 300, 45
    xs = [r["steps"] for r in rows]
    x_of = lambda s: m + (w - 2 * m) * (s - xs[0]) / max(1, xs[-1] - xs[0])  # noqa: E731
    y_of = lambda v: h - m - (h - 2 * m) * v  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">',
        f'<text x="{w / 2}" y="18" text-anchor="middle">{title}</text>',
        f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>',
        f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>',
    ]
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{m - 6}" y="{y_of(v) + 4}" text-anchor="end">{v:.1f}</text>')
    for s in xs:
        parts.append(f'<text x="{x_of(s)}" y="{h - m + 16}" text-anchor="middle">{s}</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">recurrence steps</text>')
    for key, colour in (("exact_match", "#c0392b"), ("cell_accuracy", "#2874a6")):
        pts = " ".join(f"{x_of(r['steps']):.1f},{y_of(r[key]):.1f}" for r in rows)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        ly = m + (12 if key == "exact_match" else 26)
        parts.append(f'<text x="{w - m - 90}" y="{ly}" fill="{colour}">{key}</text>')
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts) + "\n")


def markdown_row(name: str, r: dict[str, Any]) -> str:
    extra = f" {r['optimal_path']:.3f} |" if "optimal_path" in r else ""
    return (
        f"| {name} | {r['n']} | {r['exact_match']:.3f} | {r['cell_accuracy']:.3f} | "
        f"{r['mean_steps']:.1f} | {r['puzzles_per_s']:.1f} |{extra}"
    )


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="springtail csp eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--task", choices=["sudoku", "maze"], required=True)
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("--checkpoint", help="run directory written by `springtail csp train`")
    who.add_argument("--solver", choices=["exact"], help="the exact solver instead of a model")
    ap.add_argument(
        "--data", required=True, help="CSV/JSONL in the shared formats, or generated:N:SEED"
    )
    ap.add_argument("--limit", type=int, help="first K puzzles only")
    ap.add_argument("--steps", type=int, help="recurrence steps (default: the model's T)")
    ap.add_argument("--adaptive", choices=["off", "converge", "halt"], help="stop early per puzzle")
    ap.add_argument("--no-ema", action="store_true", help="use the raw weights, not the EMA")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", help="write the result record here")
    ap.add_argument("--plot", help="write accuracy against recurrence steps (1..2T) as SVG")
    return ap


def run(args: argparse.Namespace) -> dict[str, Any]:
    from prover.csp.train import load_model

    data = resolve_data(args.task, args.data, args.limit)
    model = None
    if args.checkpoint:
        model, cfg, step = load_model(args.checkpoint, use_ema=not args.no_ema)
        if cfg.model.task != args.task:
            raise ValueError(f"{args.checkpoint} was trained on {cfg.model.task}, not {args.task}")
        if args.adaptive and isinstance(model.encoder, LinkEditingEncoder):
            encoder = model.encoder
            encoder.cfg = dataclasses.replace(encoder.cfg, adaptive=args.adaptive)
    result = evaluate(
        args.task, data, model=model, batch_size=args.batch_size, num_steps=args.steps
    )
    result["model"] = args.checkpoint or "exact solver"
    if args.plot and model is not None:
        T = model.cfg.encoder.num_steps
        rows = accuracy_by_steps(args.task, data, model, 2 * T, args.batch_size)
        write_svg(rows, args.plot, f"{args.task}: accuracy by recurrence steps (trained T={T})")
        result["by_steps"] = rows
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    header = "| model | n | exact match | cell accuracy | mean steps | puzzles/s |"
    print(header + (" optimal path |" if "optimal_path" in result else ""))
    print("|---" * (7 if "optimal_path" in result else 6) + "|")
    print(markdown_row(str(result["model"]), result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
