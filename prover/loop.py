"""Expert iteration ("System 1 replay") on Coq: search, record, retrain, evaluate, repeat.

    springtail loop --backend coq --rounds R [--model DIR] [--out DIR] [--data TRACE] ...

Round 0 is the starting model (`--model`, or a model trained on the trace for
`--initial-minutes`), evaluated on the held-out theorems. Each round r >= 1 then:
1. searches the training theorems (the first `--train-theorems` of the training split in hash
   order, the same ones every round) with the current model, recording every tactic outcome
   and every verified proof in the replay store `OUT/replay.sqlite`;
2. retrains: continues from the current model for `--minutes` on the traced steps plus the
   steps of every verified replay proof (`OUT/round_R/`);
3. evaluates the new model on the held-out theorems (the first `--eval-theorems` of
   `--eval-split`).
One row per round (proved, attempted, new proofs, held-out pass@1, mean time) is printed and
appended to `OUT/rounds.jsonl`; `OUT/rounds.md` holds the table. A loop stopped part-way
resumes after its last finished round when run again with the same `--out`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.coq_split import EvalConfig, evaluate, split_theorems
from prover.policy import ModelPolicy
from prover.replay import ReplayStore
from prover.trainer import OptimConfig


@dataclass(frozen=True)
class LoopConfig:
    data: str = "datasets/coq_trace"
    train_split: str = "novel_files/train"
    eval_split: str = "novel_files/val"
    rounds: int = 2
    train_theorems: int = 32
    eval_theorems: int = 32
    time_limit_s: float = 10.0  # search seconds per theorem
    tactic_timeout_s: float = 2.0
    num_candidates: int = 8
    minutes: float = 2.0  # retraining budget per round
    initial_minutes: float = 5.0  # training of the round-0 model when none is given
    preset: str = "tiny"
    replay_repeat: int = 8
    seed: int = 0
    steps: int | None = None  # retraining steps per round (default: until `minutes` run out)
    initial_steps: int | None = None
    train_overrides: tuple[str, ...] = ()  # dotted key=value for the training config

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")
        if min(self.train_theorems, self.eval_theorems) < 1:
            raise ValueError("train_theorems and eval_theorems must be at least 1")
        if min(self.time_limit_s, self.tactic_timeout_s, self.minutes) <= 0:
            raise ValueError("time budgets must be positive")


def _train(
    cfg: LoopConfig, out: Path, minutes: float, steps: int | None, **changes: Any
) -> dict[str, Any]:
    from prover.overrides import apply_overrides
    from prover.train import preset, train

    base = apply_overrides(preset(cfg.preset), list(cfg.train_overrides))
    if steps is not None:
        changes["max_steps"] = steps
    if "init_from" in changes:  # continue the given model as it is, whatever its preset
        from prover.model.tactic import TacticConfig
        from prover.model.artifact import model_dir

        path = model_dir(changes["init_from"])
        changes["model"] = TacticConfig.from_pretrained(str(path)).model_config
        info = path / "springtail.json"
        if info.is_file():
            meta = json.loads(info.read_text())
            changes["max_state_tokens"] = meta.get("max_state_tokens", base.max_state_tokens)
    tcfg = dataclasses.replace(
        base,
        data=cfg.data,
        split=cfg.train_split,
        minutes=minutes,
        seed=cfg.seed,
        replay_repeat=cfg.replay_repeat,
        **changes,
    )
    return train(tcfg, out)


def run_loop(
    cfg: LoopConfig,
    out: str | Path,
    model: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) the loop; returns one row per round, round 0 first."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rounds.jsonl"
    rows: list[dict[str, Any]] = []
    if rows_path.is_file():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    data = Path(cfg.data)
    train_set = split_theorems(data, cfg.train_split)[: cfg.train_theorems]
    eval_set = split_theorems(data, cfg.eval_split)[: cfg.eval_theorems]
    search_cfg = EvalConfig(
        cfg.train_split, None, cfg.time_limit_s, cfg.tactic_timeout_s, batch_size=1
    )
    eval_cfg = dataclasses.replace(search_cfg, split=cfg.eval_split)

    if rows:
        current = Path(rows[-1]["model"])
        log(f"resuming after round {rows[-1]['round']} (model {current})")
    else:
        if model is None:
            log(
                f"== round 0: training a {cfg.preset} model on {data} for {cfg.initial_minutes} min"
            )
            _train(cfg, out / "round_0", cfg.initial_minutes, cfg.initial_steps)
            current = out / "round_0" / "model"
        else:
            from prover.model.artifact import model_dir

            current = model_dir(model)
        log(f"== round 0: evaluating {current} on {len(eval_set)} held-out theorems")
        held = evaluate(data, _policy(cfg, current), eval_cfg, theorems=eval_set)
        rows.append(_row(0, current, None, held, 0, 0))
        _save(out, rows)
        log(table(rows))

    with ReplayStore(out / "replay.sqlite") as store:
        while rows[-1]["round"] < cfg.rounds:
            r = rows[-1]["round"] + 1
            before = store.proved_theorems()
            log(f"== round {r}: searching {len(train_set)} training theorems with {current}")
            found = evaluate(
                data, _policy(cfg, current), search_cfg, theorems=train_set, store=store, round=r
            )
            after = store.proved_theorems()
            log(f"== round {r}: retraining for {cfg.minutes} min on the trace + replay proofs")
            summary = _train(
                cfg,
                out / f"round_{r}",
                cfg.minutes,
                cfg.steps,
                init_from=str(current),
                replay=str(store.path),
                optim=OptimConfig(lr=3e-4, warmup_steps=20, schedule="constant"),
            )
            current = out / f"round_{r}" / "model"
            log(f"== round {r}: evaluating on {len(eval_set)} held-out theorems")
            held = evaluate(data, _policy(cfg, current), eval_cfg, theorems=eval_set)
            rows.append(
                _row(r, current, found, held, len(after - before), store.counts()["proofs"])
                | {"train_steps": summary["steps"]}
            )
            _save(out, rows)
            log(table(rows))
    return rows


def _policy(cfg: LoopConfig, model: Path) -> ModelPolicy:
    return ModelPolicy(model, num_candidates=cfg.num_candidates)


def _row(
    r: int,
    model: Path,
    found: dict[str, Any] | None,
    held: dict[str, Any],
    new: int,
    replay_proofs: int,
) -> dict[str, Any]:
    row: dict[str, Any] = {"round": r, "model": str(model)}
    if found is not None:
        times = [x["time_s"] for x in found["results"] if x["status"] != "discarded"]
        row |= {
            "attempted": found["attempted"],
            "proved": found["proved"],
            "new_proofs": new,
            "mean_time_s": round(sum(times) / max(len(times), 1), 2),
            "replay_proofs": replay_proofs,
            "search": found["search"],
        }
    row |= {
        "eval_split": held["split"],
        "eval_attempted": held["attempted"],
        "eval_proved": held["proved"],
        "eval_pass_at_1": held["pass_at_1"],
    }
    return row


def _save(out: Path, rows: list[dict[str, Any]]) -> None:
    tmp = out / "rounds.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(out / "rounds.jsonl")
    (out / "rounds.md").write_text(table(rows) + "\n")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| round | train proved / attempted | new proofs | mean time (s) | replay proofs "
        "| held-out proved / attempted | held-out pass@1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "attempted" in r:
            train = f"{r['proved']} / {r['attempted']}"
            new, mean, replay = str(r["new_proofs"]), f"{r['mean_time_s']:.1f}", r["replay_proofs"]
        else:
            train, new, mean, replay = "(starting model)", "", "", ""
        lines.append(
            f"| {r['round']} | {train} | {new} | {mean} | {replay} | "
            f"{r['eval_proved']} / {r['eval_attempted']} | {r['eval_pass_at_1']:.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from prover.cli import main as cli_main

    return cli_main(["loop", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
