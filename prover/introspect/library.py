"""Build a verified tactic library: mine, render, compile, and keep only what Coq confirms.

    build_library(corpus, Path("runs/lib"), iterations=40, max_arity=3)

writes `LIBDIR/SpringtailLib.v` (+ `.vo`; `Ltac` definitions only), `LIBDIR/library.json` and
`LIBDIR/report.md`. A mined program enters the library only if
1. its text passes `coq_library.library_problems` and Coq compiles its definition (a
   definition Coq refuses, e.g. naming a lemma outside Coq's prelude, is dropped with Coq's
   message, and the file compiled again without it);
2. every proof it was mined from (or the first `verify_limit` of them), rewritten to call it,
   passes `env.verify` with the library loaded: whole-file recheck, axiom audit. Only source
   proofs that check as they stand with the library loaded count as evidence (see
   `_verify_uses`); a program with none is refused.
With `minimise=N`, the first N corpus proofs are minimised first (`minimise.py`: Coq finds
the shorter proof, `env.verify` confirms it) and mining sees the minimised ones;
`LIBDIR/minimised.jsonl` keeps each result. Everything refused stays in `library.json` with
its reason. The same corpus and settings
give a byte-identical `SpringtailLib.v` (Stitch runs single-threaded; names hash the bodies).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.envs import EnvError, ProofEnv, VerifyResult, get_env
from prover.envs.base import Status
from prover.envs.coq_library import (
    LIBRARY_IMPORT,
    compile_library,
    failing_line,
    library_problems,
)
from prover.envs.coq_project import LIBRARY_FILE
from prover.introspect.corpus import Corpus
from prover.introspect.mine import Program, find_uses, mine
from prover.introspect.minimise import add_to_replay, minimise_corpus
from prover.introspect.stats import empty as empty_stats
from prover.introspect.stats import program_stats
from prover.replay import ReplayStore

FORMAT_VERSION = 1
MINIMISED_FILE = "minimised.jsonl"  # one record per proof minimised (`Minimised.record`)


@dataclass(frozen=True)
class BuildConfig:
    iterations: int = 40  # Stitch abstraction steps
    max_arity: int = 3
    max_sentences: int = 4000  # distinct corpus sentences given to Stitch (most frequent first)
    verify_limit: int | None = None  # proofs re-checked per program (None: all it came from)
    tactic_timeout: float = 5.0
    minimise: int = 0  # proofs minimised before mining, first in corpus order (0: none)
    minimise_steps: int = 400  # tactic runs per proof minimised

    def __post_init__(self) -> None:
        if min(self.iterations, self.max_arity, self.max_sentences, self.minimise_steps) < 1:
            raise ValueError(
                "iterations, max_arity, max_sentences and minimise_steps must be at least 1"
            )
        if self.minimise < 0:
            raise ValueError(f"minimise is a number of proofs, got {self.minimise}")
        if self.max_arity > 9:  # parameters are x0 ... x9
            raise ValueError(f"max_arity is at most 9, got {self.max_arity}")
        if self.verify_limit is not None and self.verify_limit < 1:
            raise ValueError("verify_limit must be at least 1 (or None for all)")


def build_library(
    corpus: Corpus,
    out: Path,
    config: BuildConfig = BuildConfig(),
    log: Callable[[str], None] = print,
    replay: ReplayStore | None = None,
    replay_round: int = 0,
    carry: Sequence[Program] = (),
) -> dict[str, Any]:
    """Mine, check and write the library into `out`; returns the `library.json` payload.
    With a `replay` store, each program gets its search statistics from it (`stats.py`) and
    shorter versions of its own proofs (`config.minimise`) are stored in it, as round
    `replay_round`. `carry` are programs of an earlier library (`rewrite.load_programs`) that
    stay candidates, first, whatever Stitch finds now; they pass the same checks again."""
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    minimised: dict[str, Any] | None = None
    if config.minimise:
        log(f"minimising the first {config.minimise} proofs before mining")
        with get_env("coq", tactic_timeout=config.tactic_timeout) as env:
            results, minimised = minimise_corpus(
                env, corpus, limit=config.minimise, max_steps=config.minimise_steps, log=log
            )
        with (out / MINIMISED_FILE).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(m.record()) + "\n" for m in results)
        if replay is not None:
            minimised["added_to_replay"] = add_to_replay(replay, results, replay_round)
    t0 = time.perf_counter()
    programs = mine(
        corpus,
        iterations=config.iterations,
        max_arity=config.max_arity,
        max_sentences=config.max_sentences,
    )
    mined_s = time.perf_counter() - t0
    mined = {p.name for p in programs}
    kept = [p for p in carry if p.name not in mined]
    for p in kept:
        p.uses = find_uses(p, corpus)
    programs = [*kept, *programs]
    for p in programs:
        if not p.refused and not p.uses:
            p.refused = "no corpus sentence matches it whole (it only compresses inside others)"
        problems = [] if p.refused else library_problems(p.definition() + "\n")
        if problems:  # e.g. its body names `Set`: never shown to Coq
            p.refused = "its text fails the library check: " + problems[0].split(": ", 1)[-1]
    log(f"mined {len(programs)} programs in {mined_s:.0f}s; checking them with Coq")
    t1 = time.perf_counter()
    _compile_until_clean(programs, out, log)
    _verify_uses(programs, corpus, out, config, log)
    library = [p for p in programs if not p.refused]
    _write_library(library, out)
    problem = compile_library(out)
    if problem:  # every definition compiled a moment ago: this is a bug, not a refusal
        raise RuntimeError(f"the verified library does not compile: {problem}")
    payload = _payload(programs, corpus, config, mined_s, time.perf_counter() - t1)
    stats = program_stats(replay) if replay is not None else {}
    for entry in payload["programs"]:
        entry |= stats.get(entry["name"], empty_stats())
    if minimised is not None:
        payload["minimisation"] = minimised
    (out / "library.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    (out / "report.md").write_text(report(payload, corpus, programs))
    log(f"{len(library)} of {len(programs)} programs verified: {out / LIBRARY_FILE}")
    return payload


def _write_library(programs: list[Program], out: Path) -> None:
    text = "".join(p.definition() + "\n" for p in programs)
    (out / LIBRARY_FILE).write_text(text, encoding="utf-8")


def _compile_until_clean(programs: list[Program], out: Path, log: Callable[[str], None]) -> None:
    """Drop each definition Coq refuses (with Coq's message) until the rest compiles."""
    while True:
        candidates = [p for p in programs if not p.refused]
        _write_library(candidates, out)
        problem = compile_library(out)
        if not problem:
            return
        line = failing_line(problem)
        if line is None or not 1 <= line <= len(candidates):
            raise RuntimeError(f"coqc refused the library without naming a line: {problem}")
        candidates[line - 1].refused = f"Coq refuses the definition: {_coq_error(problem)}"


def _coq_error(message: str) -> str:
    return message.split("Error:", 1)[-1].strip()[:300]


def _verify_uses(
    programs: list[Program],
    corpus: Corpus,
    out: Path,
    config: BuildConfig,
    log: Callable[[str], None],
) -> None:
    """Refuse each program one of whose rewritten proofs does not verify.

    A source proof is evidence only if it checks as it stands with the library loaded (its
    own axioms allowed, as evaluations allow them): a `Definition`, a theorem inside a functor
    or one whose file cannot take the import says nothing about the program, so such proofs
    are skipped and the next source proof is checked instead."""
    candidates = [p for p in programs if not p.refused]
    with get_env("coq", tactic_timeout=config.tactic_timeout, library=str(out)) as env:
        baseline = _Baseline(env, corpus)
        for k, program in enumerate(candidates, 1):
            checked: list[str] = []
            for use in program.uses:
                if config.verify_limit is not None and len(checked) >= config.verify_limit:
                    break
                if corpus.proofs[use.proof].full_name in checked:
                    continue  # one re-check per source proof
                allowed = baseline.allowed(use.proof)
                if allowed is None:
                    continue
                proof = corpus.proofs[use.proof]
                script = list(proof.sentences)
                script[use.sentence] = use.rewritten
                verdict, why = baseline.verify(use.proof, script, allowed)
                if not verdict:
                    program.refused = f"{proof.full_name} rewritten to call it fails: {why[:300]}"
                    break
                checked.append(proof.full_name)
            if not program.refused and not checked:
                program.refused = "none of its source proofs checks with the library loaded"
            program.verified_proofs = checked
            log(f"[{k}/{len(candidates)}] {program.name}: {(program.refused or 'verified')[:120]}")


class _Baseline:
    """Which source proofs check as they stand with the library loaded, and with which
    axioms allowed (their own), each found once."""

    def __init__(self, env: ProofEnv, corpus: Corpus) -> None:
        self.env, self.corpus = env, corpus
        self.known: dict[int, tuple[str, ...] | None] = {}

    def allowed(self, k: int) -> tuple[str, ...] | None:
        """The axioms proof `k` needs allowed, or None if it does not check at all."""
        if k not in self.known:
            proof = self.corpus.proofs[k]
            verdict, _ = self.verify(k, list(proof.sentences), ())
            allowed: tuple[str, ...] | None = () if verdict else None
            if verdict is not None and verdict.status is Status.USES_AXIOM:
                original = self.env.original_axioms(proof.file, proof.theorem) or ()
                again, _ = self.verify(k, list(proof.sentences), original)
                allowed = tuple(original) if again else None
            self.known[k] = allowed
        return self.known[k]

    def verify(
        self, k: int, script: list[str], allowed: Sequence[str]
    ) -> tuple[VerifyResult | None, str]:
        proof = self.corpus.proofs[k]
        try:
            verdict = self.env.verify(
                file=proof.file,
                theorem=proof.theorem,
                proof=script,
                imports=[LIBRARY_IMPORT],
                allowed_axioms=allowed,
            )
        except EnvError as e:
            return None, str(e)
        return verdict, verdict.reason


def _payload(
    programs: list[Program],
    corpus: Corpus,
    config: BuildConfig,
    mined_s: float,
    checked_s: float,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "config": {
            "iterations": config.iterations,
            "max_arity": config.max_arity,
            "max_sentences": config.max_sentences,
            "verify_limit": config.verify_limit,
            "minimise": config.minimise,
        },
        "corpus": corpus.summary(),
        "mining_s": round(mined_s, 1),
        "verification_s": round(checked_s, 1),
        "programs": [
            {
                "name": p.name,
                "body": p.body,
                "params": list(p.params),
                "param_kinds": list(p.param_kinds),
                "arity": p.arity,
                "verified": not p.refused,
                "reason": p.refused,
                "uses": len(p.uses),
                "proofs": len({u.proof for u in p.uses}),
                "compression": round(p.compression, 4),
                "mined_from": sorted({corpus.proofs[u.proof].full_name for u in p.uses}),
                "verified_with": p.verified_proofs,
                "examples": [
                    {
                        "theorem": corpus.proofs[u.proof].full_name,
                        "sentence": u.sentence,
                        "before": corpus.proofs[u.proof].sentences[u.sentence],
                        "after": u.rewritten,
                    }
                    for u in p.uses[:3]
                ],
            }
            for p in programs
        ],
    }


def report(payload: dict[str, Any], corpus: Corpus, programs: list[Program]) -> str:
    """`report.md`: the verified programs with bodies, uses and an example before/after."""
    rows = [p for p in programs if not p.refused]
    lines = [
        "# Springtail tactic library",
        "",
        f"{len(rows)} verified programs of {len(programs)} mined from "
        f"{payload['corpus']['proofs']} proofs ({payload['corpus']['sentences']} sentences); "
        f"mining {payload['mining_s']} s, verification {payload['verification_s']} s.",
        "",
        "| program | uses | compression | example (before -> after) |",
        "|---|---|---|---|",
    ]
    for p in sorted(rows, key=lambda p: -len(p.uses)):
        use = p.uses[0]
        before = corpus.proofs[use.proof].sentences[use.sentence]
        lines.append(
            f"| `{p.definition()}` | {len(p.uses)} | {p.compression:.3f} | "
            f"`{before}` -> `{use.rewritten}` |"
        )
    refused = [p for p in programs if p.refused]
    if refused:
        lines += ["", f"Refused: {len(refused)} (reasons in library.json)."]
    return "\n".join(lines) + "\n"
