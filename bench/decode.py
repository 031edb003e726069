"""Decoding cost and candidate diversity of the tactic model policy (`ModelPolicy`).

Three tables, on `--states` proof states of a trace split (default: 50 of
`datasets/coq_trace/novel_files/val`, evenly spaced) and a trained model (default `runs/m1`;
a tiny random model and made-up states when either is missing):

1. `generate` with and without the decoder's KV cache (greedy; beam `--k`; sampling `--k`),
   in batches of `--batch` states: seconds per state, and whether the outputs agree (same
   sequences, largest score difference).
2. `score_batch` (teacher forcing) against `propose_batch` (beam `--k`) for the same
   candidates: the beam's own tactics re-scored, seconds per state, and the largest score
   difference on the tactics whose text re-encodes to the generated tokens.
3. Decoding strategies (beam or sampling, `num_generated` = factor x k): distinct tactics
   per state among all generated (after `tactic_key`: whitespace and trailing period),
   candidates returned, states with fewer than k, distinct first words (tactic heads) among
   the returned, their mean log-probability, seconds per state.

Each batch is timed `--repeats` times and the fastest kept (the machine may be shared). The
encoder's own seconds per state are shown beside the first two tables: it runs once per state
in every mode, and "decoder speed-up" is the ratio of the times without it.

Run: .venv/bin/python bench/decode.py [--model runs/m1] [--states 50] [--k 8] [--batch 8]
     [--threads 1] [--repeats 3] [--factors 1,2] [--json bench/results/decode.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import print_table, write_json

from prover.envs.base import ProofState
from prover.model import config as presets
from prover.model.artifact import save_model
from prover.model.tactic import TacticConfig, TacticModel
from prover.policies.model import ModelPolicy, tactic_key
from prover.tokenizer import train_tokenizer

TINY_TEXTS = ["n : nat\n====\nn + 0 = n", "intros n.", "simpl.", "reflexivity.", "auto."]


def load_states(data: str, split: str, count: int) -> list[ProofState]:
    """`count` evenly spaced states of the split, read from its JSON (no trace-format check:
    only `state_before` is needed); made-up states when the file is missing."""
    path = Path(data) / f"{split}.json"
    if not path.is_file():
        return [ProofState(f"n : nat\n====\nn + {i} = {i} + n", i, 1) for i in range(count)]
    texts = [t["state_before"] for th in json.loads(path.read_text()) for t in th["traced_tactics"]]
    step = max(1, len(texts) // count)
    return [ProofState(text, i, 1) for i, text in enumerate(texts[::step][:count])]


def tiny_model_dir(root: Path) -> Path:
    """A random tiny model and a tokenizer trained on a few texts, saved as a model folder."""
    tok = train_tokenizer(TINY_TEXTS * 20, root / "tok", vocab_size=300)
    torch.manual_seed(0)
    cfg = presets.tiny(vocab_size=len(tok))
    model = TacticModel(TacticConfig.from_model_config(cfg)).eval()
    save_model(model, tok, root / "model", {"max_state_tokens": 256})
    return root / "model"


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """fn(*args, **kwargs) and the seconds it took."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def best_of(repeats: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """fn(*args, **kwargs) run `repeats` times, torch's RNG seeded the same before each (the
    same samples each time): the output and the fewest seconds (the machine is shared)."""
    times = []
    for _ in range(repeats):
        torch.manual_seed(0)
        with torch.no_grad():
            out, dt = timed(fn, *args, **kwargs)
        times.append(dt)
    return out, min(times)


def encoder_seconds(
    policy: ModelPolicy, states: list[ProofState], args: argparse.Namespace
) -> float:
    """Seconds the encoder alone takes over `states` in batches (every mode runs it once)."""
    total = 0.0
    for group in batches(states, args.batch):
        ids, mask = policy.encode_states(group)
        total += best_of(args.repeats, policy.model.encoder, ids, mask)[1]
    return total


def batches(states: list[ProofState], size: int) -> list[list[ProofState]]:
    return [states[i : i + size] for i in range(0, len(states), size)]


def cache_rows(policy: ModelPolicy, states: list[ProofState], args: argparse.Namespace) -> list:
    modes = {
        "greedy": {"num_beams": 1},
        f"beam {args.k}": {"num_beams": args.k, "num_return_sequences": args.k,
                           "length_penalty": 0.0, "early_stopping": True},
        f"sample {args.k}": {"do_sample": True, "num_return_sequences": args.k},
    }  # fmt: skip
    rows = []
    enc = encoder_seconds(policy, states, args)
    for name, kwargs in modes.items():
        outs: dict[bool, list] = {False: [], True: []}
        seconds = {False: 0.0, True: 0.0}
        for group in batches(states, args.batch):
            ids, mask = policy.encode_states(group)
            for use_cache in (False, True):
                out, dt = best_of(
                    args.repeats, policy.model.generate, input_ids=ids, attention_mask=mask,
                    use_cache=use_cache, output_scores=True, return_dict_in_generate=True,
                    **kwargs,
                )  # fmt: skip
                outs[use_cache].append(out)
                seconds[use_cache] += dt
        pairs = list(zip(outs[False], outs[True], strict=True))
        same = all(torch.equal(a.sequences, b.sequences) for a, b in pairs)
        diff = None
        if kwargs.get("num_beams", 1) > 1:
            diff = max(
                (a.sequences_scores - b.sequences_scores).abs().max().item() for a, b in pairs
            )
        rows.append({
            "decoding": name,
            "s/state no cache": seconds[False] / len(states),
            "s/state cache": seconds[True] / len(states),
            "speed-up": seconds[False] / seconds[True],
            "s/state encoder": enc / len(states),
            "decoder speed-up": (seconds[False] - enc) / (seconds[True] - enc),
            "same sequences": same,
            "max score diff": diff,
        })  # fmt: skip
    return rows


def score_rows(policy: ModelPolicy, states: list[ProofState], args: argparse.Namespace) -> list:
    """Beam candidates re-scored by teacher forcing, against the beam's own scores."""
    policy.num_candidates = policy.num_generated = args.k
    gen_s = score_s = 0.0
    num, diffs, exact = 0, [], 0
    for group in batches(states, args.batch):
        proposed, dt = best_of(args.repeats, policy.propose_batch, group)
        gen_s += dt
        cands = [[c.tactic for c in p] for p in proposed]
        scores, dt = best_of(args.repeats, policy.score_batch, group, cands)
        score_s += dt
        ids, mask = policy.encode_states(group)
        with torch.no_grad():
            out = policy.model.generate(
                input_ids=ids, attention_mask=mask, num_beams=args.k,
                num_return_sequences=args.k, length_penalty=0.0, early_stopping=True,
                use_cache=True, return_dict_in_generate=True, output_scores=True)  # fmt: skip
        for i, p in enumerate(proposed):
            for c, s in zip(p, scores[i], strict=True):
                num += 1
                seqs = out.sequences[i * args.k : (i + 1) * args.k].tolist()
                for j, seq in enumerate(seqs):
                    tokens = policy.tokenizer.decode_tactic(seq)
                    body = seq[1 : seq.index(2) + 1] if 2 in seq else seq[1:]  # to eos
                    if tokens.strip() == c.tactic and body == policy.tactic_labels(c.tactic):
                        exact += 1
                        diffs.append(abs(s - out.sequences_scores[i * args.k + j].item()))
                        break
    enc = encoder_seconds(policy, states, args)
    return [{
        "candidates": num,
        "s/state propose_batch (beam, cache)": gen_s / len(states),
        "s/state score_batch": score_s / len(states),
        "speed-up": gen_s / score_s,
        "s/state encoder": enc / len(states),
        "decoder speed-up": (gen_s - enc) / (score_s - enc),
        "re-encode exactly": exact,
        "max score diff (those)": max(diffs) if diffs else None,
    }]  # fmt: skip


def strategy_rows(model: Path, states: list[ProofState], args: argparse.Namespace) -> list:
    k = args.k
    rows = []
    for decoding in ("beam", "sample"):
        for num_generated in (f * k for f in args.factors):
            policy = ModelPolicy(model, num_candidates=k, decoding=decoding,
                                 num_generated=num_generated, device="cpu")  # fmt: skip
            torch.manual_seed(0)
            generated, returned, heads, logps, seconds = [], [], [], [], 0.0
            for group in batches(states, args.batch):
                distinct = count_distinct(policy, group)
                generated += distinct
                proposed, dt = best_of(args.repeats, policy.propose_batch, group)
                seconds += dt
                returned += [len(p) for p in proposed]
                heads += [len({c.tactic.split()[0] for c in p}) for p in proposed]
                logps += [c.logprob for p in proposed for c in p]
            n = len(states)
            rows.append({
                "decoding": decoding,
                "num_generated": num_generated,
                "distinct generated/state": sum(generated) / n,
                "returned/state": sum(returned) / n,
                "states < k": sum(r < k for r in returned),
                "distinct heads/state": sum(heads) / n,
                "mean logprob": sum(logps) / max(1, len(logps)),
                "s/state": seconds / n,
            })  # fmt: skip
    return rows


def count_distinct(policy: ModelPolicy, group: list[ProofState]) -> list[int]:
    """Distinct non-empty `tactic_key`s among all sequences generated per state (a separate
    generate call with the policy's settings and its own seed)."""
    n = policy.num_generated
    ids, mask = policy.encode_states(group)
    kwargs: dict[str, Any] = (
        {"num_beams": n, "length_penalty": 0.0, "early_stopping": True}
        if policy.decoding == "beam"
        else {"do_sample": True, "temperature": policy.temperature}
    )
    with torch.no_grad():
        seqs = policy.model.generate(
            input_ids=ids, attention_mask=mask, num_return_sequences=n, use_cache=True, **kwargs
        ).tolist()
    keys = [tactic_key(policy.tokenizer.decode_tactic(s)) for s in seqs]
    return [len({key for key in keys[i * n : (i + 1) * n] if key}) for i in range(len(group))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/m1")
    ap.add_argument("--data", default="datasets/coq_trace")
    ap.add_argument("--split", default="novel_files/val")
    ap.add_argument("--states", type=int, default=50)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="time the best of this many")
    ap.add_argument("--factors", type=lambda v: [int(f) for f in v.split(",")], default=[1, 2],
                    help="strategies: num_generated = factor x k, e.g. 1,2,4")  # fmt: skip
    ap.add_argument("--json", default="bench/results/decode.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    states = load_states(args.data, args.split, args.states)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model)
        if (
            not (model / "model" / "config.json").is_file()
            and not (model / "config.json").is_file()
        ):
            print(f"{model} holds no model: using a tiny random one")
            model = tiny_model_dir(Path(tmp))
        policy = ModelPolicy(model, num_candidates=args.k, device="cpu")
        print(f"\n{len(states)} states, model {model}, {args.threads} thread(s)\n")
        tables = {
            "cache": cache_rows(policy, states, args),
            "score": score_rows(policy, states, args),
            "strategies": strategy_rows(model, states, args),
        }
    for name, rows in tables.items():
        print(f"\n{name}\n")
        print_table(rows, list(rows[0]))
    write_json(args.json, {"model": str(args.model), "states": len(states), "k": args.k,
                           "batch": args.batch, "threads": args.threads, **tables})  # fmt: skip


if __name__ == "__main__":
    main()
