"""Expert iteration ("System 1 replay") on Coq: search, record, retrain, evaluate, repeat.

    springtail loop --backend coq --rounds R [--model DIR] [--out DIR] [--data TRACE] ...

Round 0 is the starting model (`--model`, or a model trained on the trace for
`--initial-minutes`), evaluated on the held-out theorems. Each round r >= 1 then:
1. searches the training theorems (the first `--train-theorems` of the training split in hash
   order, the same ones every round) with the current model, recording every tactic outcome
   and every verified proof in the replay store `OUT/replay.sqlite`;
2. retrains: continues from the current model for `--minutes` on the traced steps plus the
   steps of every verified replay proof (`OUT/round_R/`), their tactics rewritten to call
   the current tactic library's programs when there is one (`prover.train`, `library`);
3. evaluates the new model on the held-out theorems (the first `--eval-theorems` of
   `--eval-split`).
One row per round (proved, attempted, new proofs, held-out pass@1, mean time) is printed and
appended to `OUT/rounds.jsonl`; `OUT/rounds.md` holds the table. A loop stopped part-way
resumes after its last finished round when run again with the same `--out` and the same
options (kept in `OUT/loop.json`): only `--rounds` and where the work runs (`--workers`,
`--ray-address`) may change; other options are refused before any work, since the folder's
rows, replay store and models would mix two experiments.

With `--introspect`, each round also mines a tactic library (`prover.introspect`) after its
search, from the trace's training proofs and every verified proof in the replay store (the
first `--introspect-minimise` of them minimised first, replay proofs first), into
`OUT/round_R/library/`, the previous round's programs kept as candidates (checked again), so
the library grows; that round's retraining rewrites targets to call it, and its evaluation
and the next round's search offer its verified programs as candidates (`LibraryPolicy`) with
the library loaded for every check.
`--library LIBDIR` starts the loop with a library (checked before anything runs).

With `--policy hybrid`, every search (training and held-out) uses the hybrid policy
(`prover.policies.hybrid`) around the round's model: the trace's training steps plus the replay
store's verified proofs are indexed (and each proof verified during the search is added at
once), the model generates and ranks, CoqHammer is the last resort, and the sources' success
rates are learned again from the store's outcomes each round. The index never holds the
human proofs of the theorems being searched (training theorems are left out of it while
they are searched) nor of any held-out file; the evaluation split must share the training
split's strategy.

With `--minif2f DIR` (a folder of miniF2F-Coq `valid` files, one theorem each), the theorems
searched and evaluated are that folder's instead of the trace's: each round searches the
first `--train-theorems` of its training half (`prover.data.statement_half`) and evaluates on
the first `--eval-theorems` of the other half, with the standard library's classical axioms
allowed (`coq_axioms.CLASSICAL`) and, for the hybrid, the real-arithmetic closers; the trace
(`--data`, e.g. a trace of `Reals/`, `ZArith/`, `QArith/`, `Arith/`, `NArith/`) is what the
model trains on and retrieval indexes, with the verified miniF2F proofs added each round. A
folder not named `valid` is refused: the loop learns from valid problems only, never test.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.data import Theorem, split_theorems, statement_files, statement_half
from prover.envs import get_env
from prover.envs.coq_axioms import CLASSICAL
from prover.envs.coq_library import private_copy, program_calls
from prover.episodes import EpisodeResult, tally
from prover.introspect.corpus import from_replay, from_trace
from prover.introspect.library import BuildConfig, build_library
from prover.introspect.rewrite import load_programs
from prover.model.artifact import model_dir, model_info
from prover.overrides import apply_overrides, from_dict
from prover.policies import get_policy
from prover.policies.base import TacticPolicy
from prover.policies.hammer import default_hammer_timeout
from prover.policies.library import LibraryPolicy, library_programs
from prover.policies.model import ModelPolicy
from prover.pool import PoolConfig, ray_session, run_episodes
from prover.replay import ReplayRecorder, ReplayStore
from prover.search import SearchConfig
from prover.train import TacticTrainConfig, preset, train
from prover.trainer import OptimConfig

OPTIONS_FILE = "loop.json"
# what may change when a loop folder is run again: how many rounds, and where the work runs
RESUMABLE_OPTIONS = ("rounds", "workers", "ray_address")


# Retraining continues a trained model: a short warm-up and a constant rate, unless the
# user's `train_overrides` say otherwise (they are applied on top).
RETRAIN_OPTIM = OptimConfig(lr=3e-4, warmup_steps=20, schedule="constant")


@dataclass(frozen=True)
class LoopConfig:
    data: str = "datasets/coq_trace"
    train_split: str = "novel_files/train"
    eval_split: str = "novel_files/val"
    rounds: int = 2
    train_theorems: int = 32
    eval_theorems: int = 32
    time_limit_s: float = 10.0  # search seconds per theorem
    tactic_timeout: float = 2.0  # seconds per tactic
    expand_batch: int = 1  # open nodes whose tactics the model proposes in one call
    num_candidates: int = 8
    minutes: float = 2.0  # retraining budget per round
    initial_minutes: float = 5.0  # training of the round-0 model when none is given
    preset: str = "tiny"
    replay_repeat: int = 8
    seed: int = 0
    steps: int | None = None  # retraining steps per round (default: until `minutes` run out)
    initial_steps: int | None = None
    train_overrides: tuple[str, ...] = ()  # dotted key=value for the training config
    library: str = ""  # a starting tactic library folder (`springtail introspect`)
    introspect: bool = False  # mine a library after each round's search
    introspect_iterations: int = 20  # Stitch steps per round
    introspect_verify_limit: int = 3  # rewritten proofs re-checked per program
    introspect_minimise: int = 0  # proofs minimised per round before mining
    policy: str = "model"  # "model" (generation) or "hybrid" (prover.policies.hybrid)
    hammer_timeout: float | None = None  # hybrid: per `hammer.` call (None: the default, 0: off)
    minif2f: str = ""  # a folder of miniF2F-Coq valid files: search and evaluate its halves
    workers: int | None = None  # Ray workers searching (None: the machine's cores)
    ray_address: str | None = None  # join this Ray cluster (None: a local instance)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")
        if min(self.train_theorems, self.eval_theorems, self.expand_batch) < 1:
            raise ValueError("train_theorems, eval_theorems and expand_batch must be at least 1")
        if not min(self.time_limit_s, self.tactic_timeout, self.minutes) > 0:
            raise ValueError("time budgets must be positive")
        if min(self.introspect_iterations, self.introspect_verify_limit) < 1:
            raise ValueError("introspect_iterations and introspect_verify_limit must be at least 1")
        if self.introspect_minimise < 0:
            raise ValueError("introspect_minimise is a number of proofs (0: none)")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.policy not in ("model", "hybrid"):
            raise ValueError(f"the loop's policy is model or hybrid, not {self.policy!r}")
        if self.hammer_timeout is not None:
            if not 0 <= self.hammer_timeout < math.inf:
                raise ValueError("hammer_timeout is seconds per call (0: no CoqHammer)")
            if self.policy != "hybrid":
                raise ValueError("hammer_timeout is for the hybrid policy (--policy hybrid)")
        if self.minif2f and Path(self.minif2f).resolve().name != "valid":
            raise ValueError(
                f"--minif2f {self.minif2f}: the loop learns from miniF2F's valid problems only, "
                "never test: give a folder named valid (e.g. ../shared/data/minif2f_coq/valid)"
            )
        strategy = self.train_split.split("/")[0]
        if (
            self.policy == "hybrid"
            and not self.minif2f
            and self.eval_split.split("/")[0] != strategy
        ):
            raise ValueError(
                f"the hybrid policy indexes {self.train_split}: evaluate on a split of the same "
                f"strategy ({strategy}/val or {strategy}/test), not {self.eval_split}, or its "
                "held-out proofs would be in the index"
            )
        if self.introspect and self.train_split.split("/")[-1] != "train":
            raise ValueError(f"introspection mines training proofs only, not {self.train_split!r}")

    def build_config(self) -> BuildConfig:
        return BuildConfig(
            iterations=self.introspect_iterations,
            verify_limit=self.introspect_verify_limit,
            minimise=self.introspect_minimise,
            tactic_timeout=self.tactic_timeout,
        )

    def search(self) -> SearchConfig:
        return SearchConfig(time_limit_s=self.time_limit_s, expand_batch=self.expand_batch)

    def pool(self) -> PoolConfig:
        return PoolConfig(workers=self.workers, ray_address=self.ray_address)


def train_config(
    cfg: LoopConfig, minutes: float, steps: int | None, init_from: Path | None = None
) -> TacticTrainConfig:
    """The training config of one round: the preset, then (when continuing `init_from`) the
    retraining optimiser, then the user's `train_overrides`, then the loop's own settings.
    A continued model keeps its own shape and state length, whatever the preset says."""
    base = preset(cfg.preset)
    if init_from is not None:
        base = dataclasses.replace(base, optim=RETRAIN_OPTIM)
    base = apply_overrides(base, list(cfg.train_overrides))
    changes: dict[str, Any] = {}
    if steps is not None:
        changes["max_steps"] = steps
    if init_from is not None:
        from prover.model.tactic import TacticConfig

        path = model_dir(init_from)
        changes["init_from"] = str(init_from)
        changes["model"] = TacticConfig.from_pretrained(str(path)).model_config
        changes["max_state_tokens"] = model_info(path).get(
            "max_state_tokens", base.max_state_tokens
        )
    return dataclasses.replace(
        base,
        data=cfg.data,
        split=cfg.train_split,
        minutes=minutes,
        seed=cfg.seed,
        replay_repeat=cfg.replay_repeat,
        **changes,
    )


def run_loop(
    cfg: LoopConfig,
    out: str | Path,
    model: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run (or resume) the loop; returns one row per round, round 0 first. Every search runs
    on Ray workers (`cfg.workers`), in one Ray instance for the whole run."""
    library = Path(cfg.library) if cfg.library else None
    if library is not None:  # a library Springtail refuses is bad input, said before any work
        check_library(library)
    check_resume(cfg, Path(out))
    with ray_session(cfg.pool()):
        return _run_loop(cfg, Path(out), library, model, log)


def loop_options(cfg: LoopConfig) -> dict[str, Any]:
    """What `OUT/loop.json` records of `cfg`: its options but `RESUMABLE_OPTIONS`, paths
    resolved."""
    options = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_OPTIONS}
    for key in ("data", "minif2f", "library"):
        if options[key]:
            options[key] = str(Path(options[key]).resolve())
    return options


def check_resume(cfg: LoopConfig, out: Path) -> None:
    """Refuse (`ValueError`) to go on with a loop folder started with other options
    (`OUT/loop.json`; module docstring). A folder with no finished round yet, or older than
    the file, is not checked; an option the file predates counts as its default
    (`from_dict`)."""
    path = out / OPTIONS_FILE
    if not path.is_file() or not (out / "rounds.jsonl").is_file():
        return
    try:
        saved = from_dict(LoopConfig, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:  # OverrideError is a ValueError
        raise ValueError(
            f"{path} is unreadable ({e}): it records the options {out} was started with; "
            "restore it or give another --out"
        ) from e
    now = from_dict(LoopConfig, loop_options(cfg))
    changed = [
        (f.name, getattr(saved, f.name), getattr(now, f.name))
        for f in dataclasses.fields(LoopConfig)
        if f.name not in RESUMABLE_OPTIONS and getattr(saved, f.name) != getattr(now, f.name)
    ]
    if changed:
        said = "; ".join(f"{k}: {then!r} then, {value!r} now" for k, then, value in changed)
        raise ValueError(
            f"{out} holds a loop started with other options ({said}): run it again with the "
            f"same options (only {', '.join(RESUMABLE_OPTIONS)} may change) or give another --out"
        )


def _run_loop(
    cfg: LoopConfig,
    out: Path,
    library: Path | None,
    model: str | Path | None,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rounds.jsonl"
    rows: list[dict[str, Any]] = []
    if rows_path.is_file():
        rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    options = out / OPTIONS_FILE
    if rows and not options.is_file():
        log(f"{out} has no {OPTIONS_FILE} (older than it): its options were not checked")
    if not rows or not options.is_file():
        tmp = out / f"{OPTIONS_FILE}.tmp"
        tmp.write_text(json.dumps(loop_options(cfg), indent=1) + "\n")
        tmp.replace(options)
    data = Path(cfg.data)
    train_set, eval_set = theorem_sets(cfg)

    if rows:
        current = Path(rows[-1]["model"])
        library = Path(rows[-1]["library"]) if rows[-1].get("library") else library
        log(f"resuming after round {rows[-1]['round']} (model {current}, library {library})")
        if model is not None:
            log(f"--model {model} is not used: the folder goes on from its last round's model")
    else:
        if model is None:
            log(
                f"== round 0: training a {cfg.preset} model on {data} for {cfg.initial_minutes} min"
            )
            tcfg = train_config(cfg, cfg.initial_minutes, cfg.initial_steps)
            train(tcfg, out / "round_0")
            current = out / "round_0" / "model"
        else:
            current = model_dir(model)
        log(f"== round 0: evaluating {current} on {len(eval_set)} held-out theorems")
        held = _attempt(cfg, current, library, eval_set, _eval_name(cfg))
        rows.append(_row(0, current, library, None, held, 0, 0))
        _save(out, rows)
        log(table(rows))

    with ReplayStore(out / "replay.sqlite") as store:
        while rows[-1]["round"] < cfg.rounds:
            r = rows[-1]["round"] + 1
            before = {(p["file"], p["theorem"]) for p in store.proofs() if p["round"] < r}
            log(f"== round {r}: searching {len(train_set)} training theorems with {current}")
            found = _attempt(
                cfg, current, library, train_set, _train_name(cfg), store=store, round=r
            )
            after = store.proved_theorems()
            if cfg.introspect:
                carry = load_programs(library) if library is not None else []
                library = out / f"round_{r}" / "library"
                log(f"== round {r}: mining a tactic library into {library}")
                corpus = from_trace(data, cfg.train_split, from_replay(store.path))
                build_library(
                    corpus,
                    library,
                    cfg.build_config(),
                    log=log,
                    replay=store,
                    replay_round=r,
                    carry=carry,
                )
            log(f"== round {r}: retraining for {cfg.minutes} min on the trace + replay proofs")
            tcfg = dataclasses.replace(
                train_config(cfg, cfg.minutes, cfg.steps, init_from=current),
                replay=str(store.path),
                library=str(library) if library is not None else None,
            )
            summary = train(tcfg, out / f"round_{r}")
            current = out / f"round_{r}" / "model"
            log(f"== round {r}: evaluating on {len(eval_set)} held-out theorems")
            held = _attempt(cfg, current, library, eval_set, _eval_name(cfg), knowledge=store)
            rows.append(
                _row(
                    r, current, library, found, held, len(after - before), store.counts()["proofs"]
                )
                | {"train_steps": summary["steps"]}
            )
            _save(out, rows)
            log(table(rows))
    return rows


def theorem_sets(cfg: LoopConfig) -> tuple[list[Theorem], list[Theorem]]:
    """The theorems each round searches and those it is evaluated on (module docstring)."""
    if cfg.minif2f:
        every = statement_files(Path(cfg.minif2f))
        return (
            statement_half(every, "train")[: cfg.train_theorems],
            statement_half(every, "held")[: cfg.eval_theorems],
        )
    data = Path(cfg.data)
    return (
        split_theorems(data, cfg.train_split)[: cfg.train_theorems],
        split_theorems(data, cfg.eval_split)[: cfg.eval_theorems],
    )


def _train_name(cfg: LoopConfig) -> str:
    """The searched theorems' split, as rows and replay runs name it."""
    return "minif2f/train" if cfg.minif2f else cfg.train_split


def _eval_name(cfg: LoopConfig) -> str:
    return "minif2f/held" if cfg.minif2f else cfg.eval_split


def check_library(folder: Path) -> None:
    """Refuse (`PolicyError` / `EnvError`, exit 2) a library folder Springtail would not load."""
    library_programs(folder)
    shutil.rmtree(private_copy(folder), ignore_errors=True)


def _attempt(
    cfg: LoopConfig,
    model: Path,
    library: Path | None,
    theorems: list[Theorem],
    split: str,
    *,
    store: ReplayStore | None = None,
    round: int = 0,
    knowledge: ReplayStore | None = None,
) -> dict[str, Any]:
    """Search `theorems` with the model, or the hybrid policy around it (recording into
    `store` when given; the hybrid also indexes the verified proofs of `knowledge`, default
    `store`, and learns its sources' rates there); the tally, the split and the time of each
    attempted theorem."""
    policy: TacticPolicy
    options: dict[str, Any] = {"library": str(library)} if library is not None else {}
    if cfg.minif2f:
        options["allowed_axioms"] = CLASSICAL
    if cfg.policy == "hybrid":
        # the theorems searched now: their own human proofs are not retrieved
        exclude = {t.label for t in theorems}
        policy = _hybrid(cfg, model, library, knowledge or store, exclude)
    else:
        policy = ModelPolicy(model, num_candidates=cfg.num_candidates)
        if library is not None:
            policy = LibraryPolicy(policy, library)
    recorder = None
    done: dict[tuple[str, str], EpisodeResult] = {}
    if store is not None:
        # a round stopped part-way and run again skips the theorems it recorded
        run = f"round {round}: {split}"
        recorder = ReplayRecorder(store, policy.version, round, run=run)
        done = store.episodes(run)
    make_env = functools.partial(get_env, "coq", tactic_timeout=cfg.tactic_timeout, **options)
    results, _ = run_episodes(
        make_env,
        policy,
        theorems,
        cfg.search(),
        recorder,
        pool=cfg.pool(),
        desc=f"{policy.name} {split}",
        allow_original_axioms=not cfg.minif2f,
        done=done,
    )
    times = [x.time_s for x in results if x.attempted]
    proofs = [x.proof for x in results if x.proved]
    calling = sum(any(program_calls(t) for t in proof) for proof in proofs)
    return {
        "split": split,
        **tally(results),
        "times": times,
        "library_share": calling / len(proofs) if proofs else 0.0,
    }


def _hybrid(
    cfg: LoopConfig,
    model: Path,
    library: Path | None,
    store: ReplayStore | None,
    exclude: set[str],
) -> TacticPolicy:
    """The hybrid policy of a round: the trace's training steps and the replay store's
    verified proofs indexed (online), the round's model generating and ranking, the library's
    programs, CoqHammer, and the sources calibrated on the store's outcomes so far."""
    hammer = cfg.hammer_timeout
    if hammer is None:
        hammer = default_hammer_timeout(cfg.time_limit_s)
    return get_policy(
        "hybrid",
        backend="coq",
        tactic_timeout=cfg.tactic_timeout,
        trace=cfg.data,
        split=cfg.train_split,
        exclude=exclude,
        extra_steps=store.proof_steps() if store is not None else (),
        source_rows=store.source_outcomes() if store is not None else (),
        model=str(model),
        num_candidates=cfg.num_candidates,
        library=str(library) if library is not None else None,
        hammer_timeout=hammer,
        arith=True if cfg.minif2f else None,
    )


def _row(
    r: int,
    model: Path,
    library: Path | None,
    found: dict[str, Any] | None,
    held: dict[str, Any],
    new: int,
    replay_proofs: int,
) -> dict[str, Any]:
    row: dict[str, Any] = {"round": r, "model": str(model)}
    row["library"] = str(library) if library is not None else None
    row["library_programs"] = len(library_programs(library)) if library is not None else 0
    if found is not None:
        times = found["times"]
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
        "eval_library_share": held["library_share"],
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
        "| held-out proved / attempted | held-out pass@1 | library programs "
        "| held-out proofs calling one |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "attempted" in r:
            train = f"{r['proved']} / {r['attempted']}"
            new, mean, replay = str(r["new_proofs"]), f"{r['mean_time_s']:.1f}", r["replay_proofs"]
        else:
            train, new, mean, replay = "(starting model)", "", "", ""
        lines.append(
            f"| {r['round']} | {train} | {new} | {mean} | {replay} | "
            f"{r['eval_proved']} / {r['eval_attempted']} | {r['eval_pass_at_1']:.1%} | "
            f"{r.get('library_programs', 0)} | {r.get('eval_library_share', 0.0):.0%} |"
        )
    return "\n".join(lines)
