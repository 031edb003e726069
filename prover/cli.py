"""The `springtail` command line.

    springtail doctor
    springtail check FILE [--backend coq|lean] [--json] [--allow-axiom NAME ...]
                     [--allow-axioms none|classical] [--allow-impredicative-set]
    springtail prove --backend coq|lean|leandojo --file F --theorem NAME [NAME ...]
                     [--policy portfolio|hammer|model|knn|hybrid [--model DIR]
                     [--num-candidates K] [--decoding beam|sample] [--trace DIR] [--offline]
                     [--hammer-timeout S]] [--expand-batch B] [--debug-search]
                     [--library LIBDIR] [--arith]
                     [--timeout S] [--tactic-timeout S] [--json OUT] [--allow-axiom NAME ...]
                     [--allow-axioms none|classical] [--allow-impredicative-set]
                     [--workers N] [--ray-address ADDR]
    springtail trace --backend coq --out DIR [--files GLOB ...] [--workers N]
    springtail train [--preset tiny|small|base] [--data DIR] [--minutes M] --out DIR [k=v ...]
    springtail loop --backend coq --rounds R [--policy model|hybrid] [--model DIR] [--out DIR]
                     [--data TRACE] [--minif2f DIR]
                     [--minutes M] [--hammer-timeout S]
                     [--expand-batch B] [--num-candidates K] [--library LIBDIR]
                     [--introspect] [--introspect-iterations N] ...
                     [--workers N] [--ray-address ADDR]
    springtail eval coq|minif2f [--backend coq|lean] [--split S] [--data PATH]
                     [--policy ...] [--model DIR] [--arith] [--allow-axioms none|classical]
                     [--half train|held]
                     [--trace DIR] [--offline] [--hammer-timeout S]
                     [--num-candidates K] [--decoding beam|sample] [--expand-batch B]
                     [--limit K] [--timeout S] [--tactic-timeout S] [--json OUT]
                     [--replay FILE | --out DIR] [--library LIBDIR] [--debug-search]
                     [--verbose] [--workers N] [--ray-address ADDR]
    springtail introspect [--backend coq|lean] --trace DIR --out LIBDIR [--replay DB]
                     [--iterations N] [--minimise] [--lean-project DIR]
                     [--max-arity K] [--max-sentences N] [--verify-limit N]
    springtail library show LIBDIR [--replay DB]
    springtail csp train --task sudoku|maze [--model link|plain|looped] [--data FILE]
                     [--minutes M] --out DIR [key=value ...]
    springtail csp eval --task sudoku|maze (--checkpoint DIR | --solver exact) --data FILE
                     [--json OUT] [--plot OUT.svg]
    springtail csp solve --task sudoku|maze --checkpoint DIR --data FILE [--nodes N]
                     [--limit K] [--json OUT]

`prove`, `eval` and `loop` attempt their theorems on Ray workers, each with its own proof
assistant (`prover.pool`): `--workers N` (default: the machine's cores), `--ray-address ADDR`
to join a cluster (default: a local Ray instance, started and stopped by the command).

Exit codes: 0 success, 1 not proved / rejected, 2 bad input. Errors are one line on stderr,
never a traceback (set SPRINGTAIL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shutil
import sys
import traceback
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prover.data import STATEMENT_HALVES, Theorem, split_theorems, statement_half
from prover.envs import EnvError, VerifyResult, format_proof, get_env
from prover.envs.base import short_names, valid_axiom_name
from prover.envs.coq_axioms import AXIOM_SETS, axiom_set
from prover.episodes import EpisodeResult
from prover.overrides import Parser
from prover.policies import DEFAULT_TRACE, REGISTRY, TacticPolicy, get_policy
from prover.policies.base import DECODINGS
from prover.pool import PoolConfig, PoolError, run_parallel
from prover.search import SearchConfig

if TYPE_CHECKING:
    from prover.replay import ReplayStore

EXIT_OK, EXIT_NOT_PROVED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the command line: exit 2."""


def _positive(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not (0 < x < math.inf):  # also refuses nan and inf, which would switch a budget off
        raise argparse.ArgumentTypeError(f"expected a positive, finite number, got {value!r}")
    return x


def _seconds_or_zero(value: str) -> float:
    return 0.0 if value.strip() in ("0", "0.0") else _positive(value)


def _axiom_name(value: str) -> str:
    if not valid_axiom_name(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a qualified name (e.g. Coq.Logic.Classical_Prop.classic, or "
            "propext for Lean)"
        )
    return value


def _output_path(value: str) -> str:
    """A path a JSON result can be written to: refused now, before any long run, if it is a
    folder or lies below a file."""
    out = Path(value)
    try:
        if out.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is a folder: give a file name")
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise argparse.ArgumentTypeError(f"{value}: {parent} is not a folder")
        out.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise argparse.ArgumentTypeError(f"{value}: cannot write there ({e})") from None
    return value


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _policy(
    args: argparse.Namespace,
    backend: str,
    tactic_timeout: float,
    *,
    trace: str | None = None,
    split: str = "novel_files/train",
    store: ReplayStore | None = None,
    held_out: Collection[Theorem] = (),
) -> TacticPolicy:
    """The policy the arguments name. knn/hybrid: `trace`'s training `split` is indexed
    (default trace: `--trace`, else datasets/coq_trace), and `store`'s verified proofs join
    the index and its outcomes calibrate the hybrid's sources, except those of the
    `held_out` theorems being evaluated."""
    options: dict[str, object] = {
        "model": args.model,
        "num_candidates": args.num_candidates,
        "decoding": args.decoding,
        "hammer_timeout": args.hammer_timeout,
    }
    if getattr(args, "arith", False):
        if args.policy not in ("portfolio", "hybrid") or backend != "coq":
            raise UsageError(
                "--arith adds Coq's real-arithmetic closers to --policy portfolio or hybrid"
            )
        options["arith"] = True
    if args.policy in ("hammer", "hybrid") and args.hammer_timeout is None:
        from prover.policies.hammer import default_hammer_timeout

        options["hammer_timeout"] = default_hammer_timeout(args.timeout)
    if args.policy in ("knn", "hybrid"):
        if backend != "coq":
            raise UsageError(f"the {args.policy} policy works with --backend coq, not {backend}")
        folder = Path(trace or args.trace or DEFAULT_TRACE)
        options.update(_system1_options(args, folder, split, store, held_out))
    elif args.trace or args.offline:
        flag = "--trace" if args.trace else "--offline"
        raise UsageError(f"{flag} is only used with --policy knn or hybrid")
    if args.policy == "hybrid" and args.library:
        if backend != "coq":
            raise UsageError("--library is a Coq tactic library: use it with --backend coq")
        options["library"] = args.library
        return get_policy(args.policy, backend=backend, tactic_timeout=tactic_timeout, **options)
    policy = get_policy(args.policy, backend=backend, tactic_timeout=tactic_timeout, **options)
    if args.library:
        from prover.policies.library import LibraryPolicy

        if backend != "coq":
            raise UsageError("--library is a Coq tactic library: use it with --backend coq")
        policy = LibraryPolicy(policy, Path(args.library))
    return policy


def _system1_options(
    args: argparse.Namespace,
    folder: Path,
    split: str,
    store: ReplayStore | None,
    held_out: Collection[Theorem],
) -> dict[str, object]:
    """The knn/hybrid inputs: the trace (checked before any work), the replay store's proofs
    and outcomes but for the held-out theorems' (a store an earlier eval of the same split
    wrote must not hand this one its answers)."""
    _system1_trace(folder, args.policy)
    options: dict[str, object] = {
        "trace": str(folder),
        "split": split,
        "offline": args.offline or None,
    }
    if store is not None:
        skip = {(str(t.file), t.name) for t in held_out}
        steps = store.proof_steps()
        options["extra_steps"] = [s for s in steps if (s.file_path, s.theorem) not in skip]
        if args.policy == "hybrid":
            options["source_rows"] = store.source_outcomes(exclude=skip)
    return options


def _system1_trace(folder: Path, policy: str) -> None:
    """Refuse (exit 2) a missing or outdated trace before the index is built."""
    from prover.data import check_trace

    if not (folder / "manifest.json").is_file():
        raise UsageError(
            f"--policy {policy} indexes the training split of a Coq trace, and {folder} "
            f"holds none: make one with `springtail trace --backend coq --out {folder}` "
            "(about 5 minutes for the whole standard library on 2 cores), or name one with "
            "--trace DIR"
        )
    check_trace(folder)


def _add_pool_args(p: argparse.ArgumentParser) -> None:
    """Where the theorems run: Ray workers, each with its own proof assistant."""
    p.add_argument(
        "--workers",
        type=_count,
        default=None,
        metavar="N",
        help="Ray workers, each with its own proof assistant process (default: the machine's "
        "cores; with --ray-address, the cluster's CPUs)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (`auto`, or the head's HOST:PORT; theorem files must be at "
        "the same paths on every node); default: a local Ray instance for this command",
    )


def _add_search_args(p: argparse.ArgumentParser) -> None:
    """The policy (from the registry) and the search's batching and debugging."""
    p.add_argument("--policy", choices=list(REGISTRY), default="portfolio")
    p.add_argument("--model", metavar="DIR", help="trained model (with --policy model)")
    p.add_argument(
        "--num-candidates", type=_count, metavar="K", help="model tactics per state (default 8)"
    )
    p.add_argument(
        "--decoding",
        choices=list(DECODINGS),
        help="model candidates by beam search (default) or sampling",
    )
    p.add_argument(
        "--expand-batch",
        type=_count,
        default=1,
        metavar="B",
        help="open search nodes whose tactics are asked of the policy in one call (default 1)",
    )
    p.add_argument(
        "--library",
        metavar="LIBDIR",
        help="offer the programs of a tactic library made by `springtail introspect` (Coq)",
    )
    p.add_argument(
        "--trace",
        metavar="DIR",
        help="knn/hybrid: the Coq trace whose training split is indexed (default "
        f"{DEFAULT_TRACE}; for `eval coq`, --data)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="knn/hybrid: do not index proofs verified during the run",
    )
    p.add_argument(
        "--arith",
        action="store_true",
        help="Coq portfolio/hybrid: also the real-arithmetic procedures (lra, nra, psatz, "
        "interval where installed), combined closers built on them, and their imports, which "
        "load Coq.Reals (on for eval minif2f --backend coq)",
    )
    p.add_argument(
        "--hammer-timeout",
        type=_positive,
        metavar="S",
        help="hammer/hybrid: seconds per `hammer.` call, the provers get half (default: "
        "20, at most 2/3 of --timeout)",
    )
    p.add_argument(
        "--debug-search",
        action="store_true",
        help="check the search tree's invariants after every expansion (slower; a broken "
        "one is an internal error)",
    )


def _add_axiom_set_arg(p: argparse.ArgumentParser, default: str | None, said: str) -> None:
    p.add_argument(
        "--allow-axioms",
        choices=list(AXIOM_SETS),
        default=default,
        metavar="SET",
        help="Coq: accept a named set of the standard library's axioms, by kernel name: "
        "`classical` is its real-number axioms and those of classical logic, choice, "
        "extensionality and proof irrelevance (listed in docs/MINIF2F_COQ.md); `none` "
        f"accepts none (default: {said})",
    )


def _allowed_axioms(args: argparse.Namespace, backend: str) -> list[str]:
    """`--allow-axiom` names plus the `--allow-axioms` set's (Coq only)."""
    named = axiom_set(args.allow_axioms or "none")
    if named and backend != "coq":
        raise UsageError(f"--allow-axioms {args.allow_axioms} is a set of Coq axioms")
    if named and getattr(args, "allow_impredicative_set", False):
        raise UsageError(
            f"--allow-axioms {args.allow_axioms} with --allow-impredicative-set: excluded "
            "middle with description is inconsistent with an impredicative Set; drop one"
        )
    return list(dict.fromkeys([*args.allow_axiom, *named]))


def _add_allow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-axiom",
        action="append",
        default=[],
        metavar="NAME",
        type=_axiom_name,
        help="accept this declared axiom (a qualified name, matched by kernel name; "
        "repeatable). An admitted lemma is never accepted",
    )
    _add_axiom_set_arg(p, "none", "none")
    p.add_argument(
        "--allow-impredicative-set",
        action="store_true",
        help="Coq: accept a project's -impredicative-set (each verdict then says so)",
    )


def _write_json(path: str, payload: object) -> None:
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")


# --- commands ------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from prover.doctor import diagnose

    report = diagnose()
    for name, (ok, detail) in report.items():
        print(f"{'ok     ' if ok else 'missing'} {name:10s} {detail}")
    return EXIT_OK if report["coq"][0] else EXIT_NOT_PROVED


def cmd_check(args: argparse.Namespace) -> int:
    options: dict[str, object] = {}
    if args.allow_impredicative_set:
        if args.backend != "coq":
            raise UsageError("--allow-impredicative-set is a Coq option")
        options["allow_impredicative_set"] = True
    allowed = _allowed_axioms(args, args.backend)
    with get_env(args.backend, **options) as env:
        results = env.check_file(args.file, allowed_axioms=allowed)
    shown = short_names(list(results))
    if args.json:
        print(json.dumps([_check_row(shown[n], n, r) for n, r in results.items()], indent=2))
    else:
        for name, r in results.items():
            print(
                f"PROVED {shown[name]}{_notes(r)}"
                if r.ok
                else f"REJECTED {shown[name]}: {r.reason}"
            )
    if not results:
        print(f"no theorems found in {args.file}", file=sys.stderr)
        return EXIT_NOT_PROVED
    return EXIT_OK if all(r.ok for r in results.values()) else EXIT_NOT_PROVED


def _check_row(shown: str, name: str, r: VerifyResult) -> dict:
    return {
        "theorem": shown,
        "qualified_name": name,
        "proved": r.ok,
        "reason": r.reason,
        "axioms": list(r.axioms),
        "parameters": list(r.details.get("parameters", [])),
        "notes": list(r.details.get("notes", [])),
    }


def _notes(r: VerifyResult) -> str:
    extra = [*r.details.get("notes", []), *(f"axiom {a}" for a in r.axioms)]
    return f" (with {', '.join(extra)})" if extra else ""


def cmd_prove(args: argparse.Namespace) -> int:
    tactic_timeout = args.tactic_timeout or min(5.0, args.timeout)
    policy = _policy(args, args.backend, tactic_timeout)
    search = SearchConfig(
        time_limit_s=args.timeout, expand_batch=args.expand_batch, debug=args.debug_search
    )
    env_kwargs: dict[str, object] = {"tactic_timeout": tactic_timeout}
    if args.library:
        env_kwargs["library"] = args.library
    allowed = _allowed_axioms(args, args.backend)
    if allowed:
        env_kwargs["allowed_axioms"] = allowed
    if args.allow_impredicative_set:
        if args.backend != "coq":
            raise UsageError("--allow-impredicative-set is a Coq option")
        env_kwargs["allow_impredicative_set"] = True
    _check_library(args)
    if not Path(args.file).is_file():
        raise UsageError(f"--file {args.file}: no such file")
    theorems = [Theorem(Path(args.file), name) for name in args.theorem]
    make_env = functools.partial(get_env, args.backend, **env_kwargs)
    if args.backend == "coq":  # every name resolved (or refused, exit 2) before workers start
        from prover.envs.coq import CoqEnv

        # parsing needs no library (the workers' envs compile it; _check_library did once)
        parse = {k: v for k, v in env_kwargs.items() if k != "library"}
        env = cast(CoqEnv, get_env("coq", **parse))
        try:
            document = env.document(args.file)
            for name in args.theorem:
                document.find(name)
        finally:
            env.close()
    # a theorem that cannot be opened is bad input here (exit 2), not a discarded one
    results, _ = run_parallel(
        make_env,
        policy,
        theorems,
        search,
        pool=_pool(args, len(theorems)),
        desc=f"{policy.name} prove",
        discard_unusable=False,
        quiet=len(theorems) == 1,
    )
    if args.json:
        rows = [r.to_json() for r in results]
        _write_json(args.json, rows[0] if len(rows) == 1 else rows)
    for result in results:
        _print_prove(result, format_proof(args.backend, result.proof))
    return EXIT_OK if all(r.proved for r in results) else EXIT_NOT_PROVED


def _check_library(args: argparse.Namespace) -> None:
    """Refuse (exit 2) a --library the workers' envs would refuse, before any starts."""
    if args.library and getattr(args, "backend", "coq") == "coq":
        from prover.loop import check_library

        check_library(Path(args.library))


def _print_prove(result: EpisodeResult, pasted: str) -> None:
    if result.proved:
        print(f"PROVED {result.theorem} in {result.time_s:.1f}s")
        for imp in result.imports:
            print(f"(needs, just before the theorem: {imp})")
        print(pasted)
        if result.axioms:
            print(f"axioms: {', '.join(result.axioms)}")
        return
    why = f": {result.reason}" if result.reason else ""
    print(f"NOT PROVED {result.theorem} ({result.status} after {result.time_s:.1f}s){why}")


def _pool(args: argparse.Namespace, jobs: int | None = None) -> PoolConfig:
    """The Ray pool the arguments ask for; never more local workers than `jobs`."""
    workers = args.workers
    if workers is None and jobs is not None and not args.ray_address:
        workers = max(1, min(os.cpu_count() or 1, jobs))
    return PoolConfig(workers=workers, ray_address=args.ray_address)


def cmd_trace(args: argparse.Namespace) -> int:
    from prover.envs.coq_trace import TraceConfig, resolve_files, trace

    if args.backend != "coq":
        raise UsageError("trace supports --backend coq (Lean data: use LeanDojo's own tracer)")
    files = resolve_files(args.files)
    print(f"tracing {len(files)} file(s) into {args.out} with {args.workers} worker(s)")
    manifest = trace(files, Path(args.out), TraceConfig(num_workers=args.workers))
    print(
        f"traced {manifest['num_theorems']} theorems, {manifest['num_steps']} steps from "
        f"{manifest['num_files']} files in {manifest['wall_time_s']:.0f}s "
        f"({manifest['num_files_with_errors']} file(s) with replay errors, see files.jsonl)"
    )
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from eval.summary import EvalConfig, markdown_table
    from prover.replay import ReplayStore

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    backend = _eval_backend(args)
    args.backend = backend
    if backend == "coq":
        _check_library(args)
    tactic_timeout = args.tactic_timeout or min(5.0, args.timeout)
    split = args.split or ("novel_files/test" if args.benchmark == "coq" else "valid")
    minif2f_coq = args.benchmark == "minif2f" and backend == "coq"
    config = EvalConfig(
        split=split,
        limit=args.limit,
        time_limit_s=args.timeout,
        tactic_timeout=tactic_timeout,
        expand_batch=args.expand_batch,
        debug_search=args.debug_search,
        library=args.library or "",
    )
    held_out: list[Theorem] = []
    if minif2f_coq:
        from eval import minif2f_coq as mf_coq

        held_out = mf_coq.load_theorems(args.data, split)
        if args.half:
            held_out = statement_half(held_out, args.half)
        held_out = held_out[: args.limit]
    elif args.benchmark == "minif2f":
        from eval import minif2f

        rows = minif2f.load_statements(args.data, split)[: args.limit]
    data = Path(args.data or DEFAULT_TRACE)
    if args.benchmark == "coq":
        if args.trace and Path(args.trace).resolve() != data.resolve():
            raise UsageError(
                "eval coq indexes the training split of the trace it evaluates (--data): "
                "--trace is not used here"
            )
        held_out = split_theorems(data, split)[: args.limit]
    run = _eval_run(args, backend, split, tactic_timeout)
    log = tqdm.write if args.verbose else None
    with contextlib.ExitStack() as stack:
        # opened (and upgraded) before the policy reads it; an --out folder's store is opened
        # only once it exists (a new one: after the policy was built)
        replay = run.store if run is not None and run.store.is_file() else args.replay
        store = stack.enter_context(ReplayStore(replay)) if replay else None
        done = store.episodes(EVAL_RUN) if run is not None and store is not None else {}
        if done:
            print(
                f"resuming {args.out}: {len(done)} theorem(s) already recorded, the others "
                "attempted now",
                file=sys.stderr,
            )
        policy = _policy(
            args,
            backend,
            tactic_timeout,
            # miniF2F-Coq: knn/hybrid index --trace's training split (no file of it is held out)
            trace=None if minif2f_coq else str(data),
            split="novel_files/train" if minif2f_coq else f"{split.split('/')[0]}/train",
            store=store,
            held_out=held_out,
        )
        if run is not None:
            run.pin_policy(policy.version)
            run.create()
            if store is None:
                store = stack.enter_context(ReplayStore(run.store))
        pool, name = _pool(args), EVAL_RUN if run is not None else None
        if minif2f_coq:
            summary = mf_coq.evaluate(
                held_out,
                policy,
                config,
                log,
                allow_axioms=args.allow_axioms,
                store=store,
                pool=pool,
                run=name,
                done=done,
            )
        elif args.benchmark == "coq":
            from eval.coq_split import evaluate

            summary = evaluate(
                data,
                policy,
                config,
                log,
                theorems=held_out,
                store=store,
                pool=pool,
                run=name,
                done=done,
            )
        else:
            make_env = functools.partial(get_env, "lean", tactic_timeout=tactic_timeout)
            summary = minif2f.evaluate(
                rows, policy, config, make_env, log, store=store, pool=pool, run=name, done=done
            )
    print(markdown_table([summary]))
    if minif2f_coq:
        used = sorted({a for r in summary["results"] if r["proved"] for a in r["axioms"]})
        print(
            f"axioms allowed: {args.allow_axioms} ({len(summary['allowed_axioms']['names'])} "
            "kernel names, docs/MINIF2F_COQ.md); used by the proofs: "
            + (", ".join(used) if used else "none")
        )
    if run is not None:
        _write_json(str(run.folder / "summary.json"), summary)
    if args.json:
        _write_json(args.json, summary)
    return EXIT_OK


def _eval_backend(args: argparse.Namespace) -> str:
    """The backend of an eval (`coq` for eval coq; minif2f: --backend, default lean), with
    the options only one of them takes refused (exit 2) before any work."""
    if args.benchmark == "coq":
        if args.backend == "lean":
            raise UsageError(
                "eval coq runs on Coq: drop --backend lean (miniF2F in Lean: eval minif2f)"
            )
        if args.half:
            raise UsageError("--half is for eval minif2f --backend coq (eval coq: --split)")
        if args.arith:
            raise UsageError(
                "--arith imports Lra and Psatz, which load Coq.Reals: on a standard-library "
                "split they would load held-out files; it is for eval minif2f --backend coq"
            )
        if args.allow_axioms not in (None, "none"):
            raise UsageError(
                "eval coq allows each theorem exactly the axioms its own library proof uses: "
                "--allow-axioms is for eval minif2f --backend coq"
            )
        return "coq"
    backend = args.backend or "lean"
    if args.half and backend != "coq":
        raise UsageError("--half picks files of a miniF2F-Coq folder: use it with --backend coq")
    if backend == "coq":
        args.allow_axioms = args.allow_axioms or "classical"
        if args.arith and args.policy not in ("portfolio", "hybrid"):
            raise UsageError("--arith adds closers to --policy portfolio or hybrid")
        # the benchmark's files load the reals: the closers get the real-arithmetic procedures
        args.arith = args.policy in ("portfolio", "hybrid")
    elif args.allow_axioms not in (None, "none"):
        raise UsageError(
            f"--allow-axioms {args.allow_axioms} is a set of Coq axioms: use it with "
            "--backend coq (Lean's axioms are checked by the REPL backend)"
        )
    return backend


EVAL_RUN = "eval"  # the run name of an `eval --out` folder's episodes


class _EvalRun:
    """An `eval --out DIR` folder: its replay store and the options it was started with."""

    def __init__(self, folder: Path, options: dict[str, object], recorded: dict[str, Any]) -> None:
        """`recorded`: the options of the run the folder holds (its run.json), {} if none."""
        self.folder, self.options, self.recorded = folder, options, recorded
        self.store = folder / "replay.sqlite"

    def pin_policy(self, version: str) -> None:
        """Refuse to resume with another version of the policy (other closers, another model):
        the recorded results would mix two policies. A folder older than this check is not
        checked."""
        if self.recorded.get("policy_version") not in (None, version):
            raise UsageError(
                f"--out {self.folder} holds a run of policy version "
                f"{self.recorded['policy_version']!r}, not {version!r} (its closers or model "
                "changed): give a new --out"
            )
        self.options["policy_version"] = version

    def create(self) -> None:
        """Make the folder and write the options: once the inputs were all accepted (a typo
        refused before must not pin the folder to its options)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(
                f"--out {self.folder}: cannot create the folder ({e.strerror or e})"
            ) from None
        path = self.folder / "run.json"
        if not path.is_file():
            path.write_text(json.dumps(self.options, indent=2) + "\n")


def _eval_run(
    args: argparse.Namespace, backend: str, split: str, tactic_timeout: float
) -> _EvalRun | None:
    """The `--out` run folder, created, or checked to hold a run of these very options (a
    resumed run must not mix two configurations); None without --out."""
    if args.out is None:
        return None
    if args.replay:
        raise UsageError(
            f"--out {args.out} keeps its own replay store ({Path(args.out) / 'replay.sqlite'}): "
            "drop --replay"
        )
    folder = Path(args.out)
    options: dict[str, object] = {
        "benchmark": args.benchmark,
        "backend": backend,
        "data": str(args.data or ""),
        "split": split,
        "limit": args.limit,
        "policy": args.policy,
        "model": args.model,
        "num_candidates": args.num_candidates,
        "decoding": args.decoding,
        "trace": args.trace,
        "offline": args.offline,
        "hammer_timeout": args.hammer_timeout,
        "library": args.library,
        "timeout": args.timeout,
        "tactic_timeout": tactic_timeout,
        "expand_batch": args.expand_batch,
        # None unless set, so a run folder made before these options existed still resumes
        "arith": True if getattr(args, "arith", False) else None,
        "allow_axioms": None if args.allow_axioms in (None, "none") else args.allow_axioms,
        "half": args.half,
    }
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} is a file: give a folder for the run")
    path = folder / "run.json"
    if folder.is_dir() and any(folder.iterdir()) and not path.is_file():
        raise UsageError(
            f"--out {folder} holds files but no eval run (no run.json): give a new or empty "
            "folder (an eval must not write into a loop's or another tool's folder)"
        )
    before: dict[str, Any] = {}
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{path} is unreadable ({e}): give a new --out") from None
        differ = sorted(k for k in options if before.get(k) != options[k])
        if differ:
            raise UsageError(
                f"--out {folder} holds a run with other options ({', '.join(differ)} differ): "
                "give the same options to resume it, or a new --out"
            )
    return _EvalRun(folder, options, before)


def cmd_train(args: argparse.Namespace) -> int:
    from prover.train import run_command

    print(json.dumps(run_command(args.rest)))
    return EXIT_OK


def cmd_loop(args: argparse.Namespace) -> int:
    from prover.loop import LoopConfig, run_loop, table

    tuning = {
        "introspect_iterations": args.introspect_iterations,
        "introspect_verify_limit": args.introspect_verify_limit,
        "introspect_minimise": args.introspect_minimise,
    }
    tuning = {k: v for k, v in tuning.items() if v is not None}
    if tuning and not args.introspect:
        flag = "--" + next(iter(tuning)).replace("_", "-")
        raise UsageError(f"{flag} tunes --introspect: add --introspect or drop it")

    tactic_timeout = args.tactic_timeout or min(2.0, args.timeout)
    if args.minif2f and args.eval_split:
        raise UsageError(
            "--minif2f evaluates on its folder's held-out half: --eval-split is not used"
        )
    cfg = LoopConfig(
        data=args.data,
        eval_split=args.eval_split or "novel_files/val",
        rounds=args.rounds,
        train_theorems=args.train_theorems,
        eval_theorems=args.eval_theorems,
        time_limit_s=args.timeout,
        tactic_timeout=tactic_timeout,
        expand_batch=args.expand_batch,
        num_candidates=args.num_candidates,
        minutes=args.minutes,
        initial_minutes=args.initial_minutes,
        preset=args.preset,
        library=args.library or "",
        introspect=args.introspect,
        policy=args.policy,
        hammer_timeout=args.hammer_timeout,
        minif2f=args.minif2f or "",
        workers=args.workers,
        ray_address=args.ray_address,
        **tuning,
    )
    if args.policy == "hybrid":
        _system1_trace(Path(args.data), args.policy)
    if (args.introspect or args.library) and shutil.which("coqc") is None:
        raise UsageError("coqc not found: install Coq 8.16 (`make setup`)")
    rows = run_loop(cfg, Path(args.out), args.model)
    print(table(rows))
    print(f"rows: {Path(args.out) / 'rounds.jsonl'}")
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="springtail", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    _doctor_parser(sub)
    _check_parser(sub)
    _prove_parser(sub)
    _trace_parser(sub)
    _eval_parser(sub)
    _train_parser(sub)
    _loop_parser(sub)
    _introspect_parser(sub)
    _library_parser(sub)
    _csp_parser(sub)
    return p


def _doctor_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    d = sub.add_parser("doctor", help="which proof backends are usable here, and why not")
    d.set_defaults(fn=cmd_doctor)


def _check_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    c = sub.add_parser(
        "check",
        help="re-check every theorem of a file with its own proof",
        description="Compile FILE with the proof assistant (Coq: coqc with the load path of "
        "the _CoqProject above it, if any), audit every theorem's axioms in a separate "
        "process and with coqchk, and print PROVED or REJECTED with the reason for each, "
        "by kernel name (shortened while unique). Exit 0 when every theorem is proved, 1 "
        "otherwise, 2 for bad input (e.g. dependencies not compiled yet).",
    )
    c.add_argument("file", help="a Coq .v file (or a Lean file with --backend lean)")
    c.add_argument("--backend", choices=["coq", "lean"], default="coq", help="default: coq")
    c.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {theorem, qualified_name, proved, reason, axioms, "
        "parameters, notes} instead of lines",
    )
    _add_allow_args(c)
    c.set_defaults(fn=cmd_check)


def _prove_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    pr = sub.add_parser("prove", help="search for a proof of one theorem and re-check it")
    pr.add_argument("--backend", choices=["coq", "lean", "leandojo"], default="coq")
    pr.add_argument("--file", required=True)
    pr.add_argument(
        "--theorem",
        required=True,
        nargs="+",
        action="extend",
        metavar="NAME",
        help="theorem(s) to prove (several: attempted on --workers in parallel)",
    )
    _add_search_args(pr)
    _add_pool_args(pr)
    pr.add_argument("--timeout", type=_positive, default=60.0, help="search seconds (default 60)")
    pr.add_argument("--tactic-timeout", type=_positive, default=None, help="seconds per tactic")
    pr.add_argument("--json", metavar="OUT", type=_output_path, help="write the result as JSON")
    _add_allow_args(pr)
    pr.set_defaults(fn=cmd_prove)


def _trace_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    t = sub.add_parser("trace", help="replay source files into tactic-step training data")
    t.add_argument("--backend", choices=["coq"], default="coq")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument(
        "--files",
        nargs="+",
        default=None,
        metavar="GLOB",
        help="stdlib globs relative to theories/ (e.g. 'Arith/*.v') or user .v paths; "
        "default: the whole standard library",
    )
    t.add_argument("--workers", type=int, default=2)
    t.set_defaults(fn=cmd_trace)


def _eval_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    e = sub.add_parser("eval", help="pass@1 of a policy on a held-out split")
    e.add_argument("benchmark", choices=["coq", "minif2f"])
    e.add_argument(
        "--backend",
        choices=["coq", "lean"],
        help="minif2f: coq (miniF2F-rocq's .v files) or lean (the Lean REPL; the default); "
        "coq: coq only",
    )
    e.add_argument(
        "--split",
        help="coq: STRATEGY/PART (default novel_files/test); minif2f: "
        "valid or test (default valid)",
    )
    e.add_argument(
        "--data",
        help="coq: trace folder (default datasets/coq_trace); minif2f: statements JSONL "
        "(default ../shared/data/minif2f/...lean4.24...); minif2f --backend coq: a folder of "
        ".v files, one theorem each (default ../shared/data/minif2f_coq/SPLIT; only valid is "
        "shipped)",
    )
    _add_axiom_set_arg(e, None, "classical for minif2f --backend coq, else none")
    e.add_argument(
        "--half",
        choices=list(STATEMENT_HALVES),
        help="minif2f --backend coq: only the files of this half (by a hash of the name): "
        "`springtail loop --minif2f` learns on train and is measured on held",
    )
    _add_search_args(e)
    e.add_argument("--limit", type=int, default=None)
    e.add_argument("--timeout", type=_positive, default=60.0, help="search seconds per theorem")
    e.add_argument("--tactic-timeout", type=_positive, default=None)
    e.add_argument("--json", metavar="OUT", type=_output_path)
    e.add_argument(
        "--replay",
        metavar="FILE",
        help="record every tactic outcome and verified proof in this replay SQLite file",
    )
    e.add_argument(
        "--out",
        metavar="DIR",
        help="run folder: DIR/replay.sqlite records every outcome and finished theorem, "
        "DIR/summary.json the result; run again with the same --out to resume, skipping the "
        "theorems already recorded",
    )
    e.add_argument("--verbose", action="store_true", help="a line per theorem as it finishes")
    _add_pool_args(e)
    e.set_defaults(fn=cmd_eval)


def _train_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    tr = sub.add_parser("train", help="train the tactic model (see `springtail train --help`)")
    tr.add_argument("rest", nargs=argparse.REMAINDER)
    tr.set_defaults(fn=cmd_train)


def _loop_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    lp = sub.add_parser("loop", help="expert iteration: search, record, retrain, evaluate")
    lp.add_argument(
        "--backend", choices=["coq"], default="coq", help="coq (a Lean loop needs a Lean trace)"
    )
    lp.add_argument("--rounds", type=int, default=2)
    lp.add_argument("--out", default="runs/loop", help="loop folder (resumed if it has rounds)")
    lp.add_argument("--model", metavar="DIR", help="starting model (default: train one)")
    lp.add_argument("--data", default="datasets/coq_trace", help="trace folder")
    lp.add_argument("--eval-split", help="held-out split of --data (default novel_files/val)")
    lp.add_argument(
        "--minif2f",
        metavar="DIR",
        help="search the training half of this folder of miniF2F-Coq valid files and evaluate "
        "on its other half (e.g. ../shared/data/minif2f_coq/valid), instead of --data's "
        "splits; --data is then the trace the model trains on and retrieval indexes",
    )
    lp.add_argument("--train-theorems", type=int, default=32, metavar="K")
    lp.add_argument("--eval-theorems", type=int, default=32, metavar="K")
    lp.add_argument("--timeout", type=_positive, default=10.0, help="search seconds/theorem")
    lp.add_argument("--tactic-timeout", type=_positive, default=None)
    lp.add_argument("--expand-batch", type=_count, default=1, metavar="B")
    lp.add_argument("--num-candidates", type=_count, default=8, metavar="K")
    lp.add_argument("--minutes", type=_positive, default=2.0, help="retraining per round")
    lp.add_argument("--initial-minutes", type=_positive, default=5.0)
    lp.add_argument("--preset", choices=["tiny", "small", "base"], default="tiny")
    lp.add_argument(
        "--policy",
        choices=["model", "hybrid"],
        default="model",
        help="search with the model's generations (default) or the hybrid policy around it "
        "(closers, online retrieval over --data's training split and the replay proofs, the "
        "model generating and ranking, CoqHammer last)",
    )
    lp.add_argument(
        "--hammer-timeout",
        type=_seconds_or_zero,
        metavar="S",
        help="hybrid: seconds per `hammer.` call (default: 20, at most 2/3 of --timeout; 0: off)",
    )
    lp.add_argument(
        "--library",
        metavar="LIBDIR",
        help="offer this tactic library's programs from round 0 (`springtail introspect`)",
    )
    lp.add_argument(
        "--introspect",
        action="store_true",
        help="mine a tactic library after each round's search (trace + replay proofs); the "
        "round's evaluation and the next search use it",
    )
    lp.add_argument(
        "--introspect-iterations", type=_count, metavar="N", help="Stitch steps (default 20)"
    )
    lp.add_argument(
        "--introspect-verify-limit",
        type=_count,
        metavar="N",
        help="rewritten proofs re-checked per mined program (default 3)",
    )
    lp.add_argument(
        "--introspect-minimise",
        type=_count,
        metavar="N",
        help="minimise the first N proofs (replay first) before each round's mining",
    )
    _add_pool_args(lp)
    lp.set_defaults(fn=cmd_loop)


def _introspect_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    it = sub.add_parser(
        "introspect",
        help="mine verified proofs into a library of named, verified tactic programs",
        description="Parse the proofs of a trace's training split (and a replay store's "
        "verified proofs), mine tactic programs with Stitch, and keep those Coq compiles and "
        "whose rewritten proofs re-check. Writes LIBDIR/SpringtailLib.v, library.json and "
        "report.md.",
    )
    it.add_argument(
        "--backend",
        choices=["coq", "lean"],
        default="coq",
        help="coq (default) or lean: mine Lean proofs (--trace is then a LeanDojo "
        "steps.jsonl) into Lean macros, not checked here (no Lean)",
    )
    it.add_argument(
        "--trace",
        required=True,
        metavar="DIR",
        help="a `springtail trace` folder (Lean: a steps.jsonl file)",
    )
    it.add_argument(
        "--lean-project",
        metavar="DIR",
        help="with --backend lean: also write DIR/Springtail/TacticLib.lean",
    )
    it.add_argument("--split", default="novel_files/train", help="a training split (default)")
    it.add_argument("--replay", metavar="DB", help="also mine this replay store's proofs")
    it.add_argument("--out", required=True, metavar="LIBDIR", help="library folder")
    it.add_argument("--max-arity", type=_count, default=3, metavar="K")
    it.add_argument("--iterations", type=_count, default=40, metavar="N", help="Stitch steps")
    it.add_argument("--max-sentences", type=_count, default=4000, metavar="N")
    it.add_argument(
        "--verify-limit",
        type=_count,
        default=None,
        metavar="N",
        help="re-check at most N rewritten proofs per program (default: every one)",
    )
    it.add_argument(
        "--minimise",
        action="store_true",
        help="first minimise proofs on Coq (drop steps, replace runs by one closer; each "
        "shorter proof re-verified); mining sees the minimised proofs, LIBDIR/minimised.jsonl "
        "says which steps were needed, and --replay's store gains shorter versions of its "
        "own proofs",
    )
    it.add_argument(
        "--minimise-limit",
        type=_count,
        default=300,
        metavar="N",
        help="minimise the first N proofs (replay proofs first, then the trace's; default 300)",
    )
    it.set_defaults(fn=cmd_introspect)


def _library_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    lb = sub.add_parser("library", help="show a tactic library made by `springtail introspect`")
    lb.add_argument("action", choices=["show"])
    lb.add_argument("libdir", metavar="LIBDIR")
    lb.add_argument(
        "--replay", metavar="DB", help="per-program statistics from this replay store's searches"
    )
    lb.set_defaults(fn=cmd_library)


def _csp_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    cs = sub.add_parser(
        "csp", help="Sudoku / 30x30 maze benchmark: train a model, evaluate, or solve verified"
    )
    cs.add_argument(
        "action", choices=["train", "eval", "solve"], help="see `springtail csp ACTION --help`"
    )
    cs.add_argument("rest", nargs=argparse.REMAINDER)
    cs.set_defaults(fn=cmd_csp)


def cmd_introspect(args: argparse.Namespace) -> int:
    if args.backend == "lean":
        return _introspect_lean(args)
    if args.lean_project:
        raise UsageError("--lean-project is for --backend lean")
    from prover.introspect.corpus import Corpus, from_replay, from_trace
    from prover.introspect.library import BuildConfig, build_library
    from prover.replay import ReplayStore

    config = BuildConfig(
        iterations=args.iterations,
        max_arity=args.max_arity,
        max_sentences=args.max_sentences,
        verify_limit=args.verify_limit,
        minimise=args.minimise_limit if args.minimise else 0,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a folder for the library")
    if shutil.which("coqc") is None:  # checked now, not after minutes of mining
        raise UsageError("coqc not found: install Coq 8.16 (`make setup`)")
    corpus = Corpus()
    if args.replay:  # first, so --minimise reaches the replay proofs first
        if not Path(args.replay).is_file():
            raise UsageError(f"--replay {args.replay}: no such replay store")
        from_replay(Path(args.replay), corpus)
    from_trace(Path(args.trace), args.split, corpus)
    skipped = sum(corpus.skipped.values())
    print(
        f"corpus: {len(corpus.proofs)} proofs, {corpus.num_sentences} sentences ({skipped} skipped)"
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
    if args.replay:  # read for each program's statistics; written only with --minimise
        with ReplayStore(Path(args.replay), readonly=not args.minimise) as store:
            payload = build_library(corpus, out, config, replay=store)
    else:
        payload = build_library(corpus, out, config)
    verified = sum(p["verified"] for p in payload["programs"])
    print(f"library: {verified} verified programs in {out / 'SpringtailLib.v'}")
    if "minimisation" in payload:
        m = payload["minimisation"]
        print(
            f"minimised {m['proofs']} proofs: {m['shortened']} shortened, "
            f"{m['steps_before']} -> {m['steps_after']} steps ({out / 'minimised.jsonl'})"
        )
    return EXIT_OK


def _introspect_lean(args: argparse.Namespace) -> int:
    from prover.introspect.lean import is_generated, lean_corpus, render_library
    from prover.introspect.mine import mine

    if args.replay or args.minimise:
        raise UsageError("--replay and --minimise need Coq: they are not for --backend lean")
    steps, out = Path(args.trace), Path(args.out)
    if not steps.is_file():
        raise UsageError(f"--trace {steps}: not a file (give a LeanDojo steps.jsonl)")
    target = (
        Path(args.lean_project) / "Springtail" / "TacticLib.lean" if args.lean_project else None
    )
    if target is not None:
        if not target.parent.is_dir():
            raise UsageError(f"--lean-project {args.lean_project}: no Springtail/ folder in it")
        if target.exists() and not is_generated(target.read_text(encoding="utf-8")):
            raise UsageError(
                f"{target} was not written by `springtail introspect`: move it away first"
            )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a folder for the library")
    corpus = lean_corpus(steps)
    skipped = sum(corpus.skipped.values())
    if not corpus.proofs:
        raise UsageError(f"--trace {steps}: no whole Lean proof read ({skipped} skipped)")
    print(
        f"corpus: {len(corpus.proofs)} Lean proofs, {corpus.num_sentences} tactics "
        f"({skipped} skipped)"
    )
    programs = mine(
        corpus,
        iterations=args.iterations,
        max_arity=args.max_arity,
        max_sentences=args.max_sentences,
    )
    text, entries = render_library(programs)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
    (out / "TacticLib.lean").write_text(text, encoding="utf-8")
    payload = {
        "format_version": 1,
        "backend": "lean",
        "corpus": corpus.summary(),
        "programs": entries,
    }
    (out / "library.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    if target is not None:
        target.write_text(text, encoding="utf-8")
    rendered = sum(bool(e["macro"]) for e in entries)
    print(
        f"library: {rendered} Lean macros in {out / 'TacticLib.lean'} (not checked here: "
        "run `lake build` in the Lean project)"
    )
    return EXIT_OK


def cmd_library(args: argparse.Namespace) -> int:
    from prover.envs.coq_library import library_problems
    from prover.envs.coq_project import LIBRARY_FILE
    from prover.introspect.stats import empty, program_stats
    from prover.policies.library import library_programs
    from prover.replay import ReplayStore

    folder = Path(args.libdir)
    if not (folder / LIBRARY_FILE).exists() and (folder / "TacticLib.lean").is_file():
        return _show_lean_library(folder)
    try:
        text = (folder / LIBRARY_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{folder}: no readable {LIBRARY_FILE} ({e})") from None
    programs = library_programs(folder)  # PolicyError (exit 2) for a malformed library.json
    if args.replay:  # statistics as of now, from this store
        if not Path(args.replay).is_file():
            raise UsageError(f"--replay {args.replay}: no such replay store")
        with ReplayStore(Path(args.replay), readonly=True) as store:
            stats = program_stats(store)
        programs = [p | stats.get(p["name"], empty()) for p in programs]
    problems = library_problems(text)
    print(
        f"{folder / LIBRARY_FILE}: "
        + ("; ".join(problems) if problems else "tactic definitions only")
    )
    print(
        "| program | uses | proofs | tried | success rate | in proofs | body |\n"
        "|---|---|---|---|---|---|---|"
    )
    for p in programs:
        params = "".join(f" {x}" for x in p["params"])
        rate = p.get("success_rate")
        print(
            f"| {p['name']}{params} | {p.get('uses', '?')} | {p.get('proofs', '?')} | "
            f"{p.get('tried', 0)} | {'-' if rate is None else f'{rate:.0%}'} | "
            f"{p.get('in_proofs', 0)} | `{p['body']}` |"
        )
    print(f"{len(programs)} verified programs (the refused ones and why: library.json)")
    return EXIT_NOT_PROVED if problems else EXIT_OK


def _show_lean_library(folder: Path) -> int:
    from prover.envs.lean_tactic import lean_library_problems

    try:
        text = (folder / "TacticLib.lean").read_text(encoding="utf-8")
        entries = json.loads((folder / "library.json").read_text(encoding="utf-8"))["programs"]
        rows = [(str(e["name"]), int(e["uses"]), str(e["macro"])) for e in entries if e["macro"]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"{folder}: not a Lean library made by `springtail introspect` ({e})"
        ) from None
    problems = lean_library_problems(text)
    print(
        f"{folder / 'TacticLib.lean'}: "
        + ("; ".join(problems) if problems else "macros only (not compiled here: no Lean)")
    )
    print("| program | uses | macro |\n|---|---|---|")
    for name, uses, line in rows:
        print(f"| {name} | {uses} | `{line}` |")
    print(f"{len(rows)} Lean macros, none verified here (`lake build` checks them)")
    return EXIT_NOT_PROVED if problems else EXIT_OK


def cmd_csp(args: argparse.Namespace) -> int:
    if args.action == "train":
        from prover.csp.train import run_command

        print(json.dumps(run_command(args.rest)))
        return EXIT_OK
    if args.action == "solve":
        from eval.csp_solve import main as solve_main

        return solve_main(args.rest)
    from eval.csp import main as eval_main

    return eval_main(args.rest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # its own parser (options first would defeat REMAINDER)
        args = argparse.Namespace(command="train", rest=argv[1:], fn=cmd_train)
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (EnvError, UsageError, PoolError, ValueError, FileNotFoundError) as e:
        print(f"springtail {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"springtail {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the one place that turns a bug into one clear line
        if os.environ.get("SPRINGTAIL_DEBUG"):
            traceback.print_exc()
        print(
            f"springtail {args.command}: internal error: {type(e).__name__}: {e} "
            "(set SPRINGTAIL_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
