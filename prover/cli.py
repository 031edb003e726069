"""The `springtail` command line.

    springtail doctor
    springtail check FILE [--backend coq|lean] [--json] [--allow-axiom NAME ...]
    springtail prove --backend coq --file F --theorem NAME [--policy portfolio|hammer]
                     [--timeout S] [--tactic-timeout S] [--json OUT] [--allow-axiom NAME ...]
    springtail trace --backend coq --out DIR [--files GLOB ...] [--workers N]
    springtail eval coq --split novel_files/test [--data DIR] [--policy portfolio|hammer]
                     [--limit K] [--timeout S] [--json OUT]
    springtail csp train --task sudoku|maze [--model link|plain|looped] [--data FILE]
                     [--minutes M] --out DIR [key=value ...]
    springtail csp eval --task sudoku|maze (--checkpoint DIR | --solver exact) --data FILE
                     [--json OUT] [--plot OUT.svg]

Exit codes: 0 success, 1 not proved / rejected, 2 bad input. Errors are one line on stderr,
never a traceback (set SPRINGTAIL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from prover.envs import EnvError, get_env

EXIT_OK, EXIT_NOT_PROVED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the command line: exit 2."""


def _positive(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if x <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return x


def _make_policy(name: str, tactic_timeout: float):  # type: ignore[no-untyped-def]
    from prover.policy import HammerPolicy, PortfolioPolicy

    if name == "portfolio":
        return PortfolioPolicy()
    if name == "hammer":
        return HammerPolicy(atp_limit_s=max(1.0, 0.6 * tactic_timeout))
    raise UsageError(f"unknown policy {name!r}: choose portfolio or hammer")


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
        print(f"{'ok     ' if ok else 'missing'} {name:9s} {detail}")
    return EXIT_OK if report["coq"][0] else EXIT_NOT_PROVED


def cmd_check(args: argparse.Namespace) -> int:
    with get_env(args.backend) as env:
        results = env.check_file(args.file, allowed_axioms=args.allow_axiom)
    if args.json:
        rows = [
            {"theorem": n, "proved": r.ok, "reason": r.reason, "axioms": list(r.axioms)}
            for n, r in results.items()
        ]
        print(json.dumps(rows, indent=2))
    else:
        for name, r in results.items():
            print(f"PROVED {name}" if r.ok else f"REJECTED {name}: {r.reason}")
    if not results:
        print(f"no theorems found in {args.file}", file=sys.stderr)
        return EXIT_NOT_PROVED
    return EXIT_OK if all(r.ok for r in results.values()) else EXIT_NOT_PROVED


def cmd_prove(args: argparse.Namespace) -> int:
    from prover.prove import prove_theorem
    from prover.search import SearchConfig

    if args.backend != "coq":
        raise UsageError(
            f"the {args.policy} policy proposes Coq tactics; Lean proving needs the model "
            "policy (TODO(#5)): use --backend coq, or `springtail check FILE --backend lean`"
        )
    tactic_timeout = args.tactic_timeout or min(5.0, args.timeout)
    policy = _make_policy(args.policy, tactic_timeout)
    config = SearchConfig(time_limit_s=args.timeout)
    env_kwargs = {"tactic_timeout": tactic_timeout}
    if args.allow_axiom:
        env_kwargs["allowed_axioms"] = args.allow_axiom
    with get_env(args.backend, **env_kwargs) as env:
        names = [t.name for t in env.theorems(args.file)]  # a bad file is a usage error
        if args.theorem not in names:
            env.open(file=args.file, theorem=args.theorem)  # raises with "did you mean"
        result = prove_theorem(env, policy, file=args.file, theorem=args.theorem, config=config)
    if args.json:
        _write_json(args.json, result.to_json())
    if result.proved:
        print(f"PROVED {result.theorem} in {result.time_s:.1f}s")
        for imp in result.imports:
            print(f"(needs, just before the theorem: {imp})")
        print("Proof.")
        for tac in result.proof:
            print(f"  {tac}")
        print("Qed.")
        if result.axioms:
            print(f"axioms: {', '.join(result.axioms)}")
        return EXIT_OK
    why = f": {result.reason}" if result.reason else ""
    print(f"NOT PROVED {result.theorem} ({result.status} after {result.time_s:.1f}s){why}")
    return EXIT_NOT_PROVED


def cmd_trace(args: argparse.Namespace) -> int:
    from prover.trace import TraceConfig, resolve_files, trace

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
    from eval.coq_split import EvalConfig, evaluate, markdown_table

    if args.benchmark != "coq":
        raise UsageError("eval supports `coq` for now (miniF2F: TODO(#5))")
    tactic_timeout = args.tactic_timeout or min(5.0, args.timeout)
    policy = _make_policy(args.policy, tactic_timeout)
    config = EvalConfig(args.split, args.limit, args.timeout, tactic_timeout)
    summary = evaluate(Path(args.data), policy, config)
    print(markdown_table([summary]))
    if args.json:
        _write_json(args.json, summary)
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="springtail", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="which proof backends are usable here, and why not")
    d.set_defaults(fn=cmd_doctor)

    c = sub.add_parser("check", help="re-check every theorem of a file with its own proof")
    c.add_argument("file")
    c.add_argument("--backend", choices=["coq", "lean"], default="coq")
    c.add_argument("--json", action="store_true", help="print JSON instead of lines")
    c.add_argument("--allow-axiom", action="append", default=[], metavar="NAME")
    c.set_defaults(fn=cmd_check)

    pr = sub.add_parser("prove", help="search for a proof of one theorem and re-check it")
    pr.add_argument("--backend", choices=["coq", "lean", "leandojo"], default="coq")
    pr.add_argument("--file", required=True)
    pr.add_argument("--theorem", required=True)
    pr.add_argument("--policy", choices=["portfolio", "hammer"], default="portfolio")
    pr.add_argument("--timeout", type=_positive, default=60.0, help="search seconds (default 60)")
    pr.add_argument("--tactic-timeout", type=_positive, default=None, help="seconds per tactic")
    pr.add_argument("--json", metavar="OUT", help="write the result as JSON")
    pr.add_argument("--allow-axiom", action="append", default=[], metavar="NAME")
    pr.set_defaults(fn=cmd_prove)

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

    e = sub.add_parser("eval", help="pass@1 of a policy on a held-out split")
    e.add_argument("benchmark", choices=["coq", "minif2f"])
    e.add_argument("--split", default="novel_files/test")
    e.add_argument("--data", default="datasets/coq_trace", help="trace folder")
    e.add_argument("--policy", choices=["portfolio", "hammer"], default="portfolio")
    e.add_argument("--limit", type=int, default=None)
    e.add_argument("--timeout", type=_positive, default=60.0, help="search seconds per theorem")
    e.add_argument("--tactic-timeout", type=_positive, default=None)
    e.add_argument("--json", metavar="OUT")
    e.set_defaults(fn=cmd_eval)

    cs = sub.add_parser("csp", help="Sudoku / 30x30 maze benchmark: train a model or evaluate")
    cs.add_argument("action", choices=["train", "eval"], help="see `springtail csp ACTION --help`")
    cs.add_argument("rest", nargs=argparse.REMAINDER)
    cs.set_defaults(fn=cmd_csp)
    return p


def cmd_csp(args: argparse.Namespace) -> int:
    if args.action == "train":
        from prover.csp.train import parse_args, train

        cfg, out = parse_args(args.rest)
        print(json.dumps(train(cfg, out)))
        return EXIT_OK
    from eval.csp import main as eval_main

    return eval_main(args.rest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (EnvError, UsageError, ValueError, FileNotFoundError) as e:
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
