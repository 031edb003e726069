"""The episode driver: the one place that opens a theorem, searches, verifies, decides whether
it was `discarded`, and hands every outcome to a recorder.

    for result in run_theorems(env, policy, theorems, SearchConfig(), recorder=recorder):
        print(result.theorem, result.status)

A theorem counts as proved only when `env.verify` accepts the whole proof (whole-file
recheck, axioms audited); only then do its steps go to `policy.learn` (an online policy's
index grows within the run). The policy's imports are tried last: the proof is verified first
without them, so a reported proof pastes between the statement and its end (`env.format_proof`)
whenever it can; `imports` in the result says what else it needs. With
`allow_original_axioms`, a proof refused only for axioms is checked again with the axioms the
theorem's own proof uses allowed (library evaluations: a stdlib lemma proved classically may
be re-proved classically, with nothing more).

`springtail prove`, `springtail eval coq`, `springtail eval minif2f` and the training loop all
run their theorems through `run_theorems`, so a Lean run records replay rows exactly as a Coq
run does.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from tqdm import tqdm

from prover.data import Theorem
from prover.envs.base import (
    BackendUnavailable,
    DependencyNotBuilt,
    EnvError,
    ImportRejected,
    ProofEnv,
    ProofState,
    Status,
    StepResult,
    TheoremNotFound,
    VerifyResult,
)
from prover.policies.base import TacticPolicy
from prover.search import OutcomeHook, SearchConfig, best_first_search

# Errors about the whole run, not one theorem: they stop it instead of discarding a theorem.
RUN_ERRORS = (BackendUnavailable, DependencyNotBuilt)


class TheoremUnusable(EnvError):
    """The theorem cannot be opened for proving (its statement or file does not load)."""


@dataclass(frozen=True, kw_only=True)
class EpisodeResult:
    theorem: str
    status: Status
    time_s: float
    proof: list[str] = field(default_factory=list)
    axioms: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    reason: str = ""
    search: dict[str, Any] = field(default_factory=dict)
    imports_dropped: bool = False  # the policy's imports would load this very file
    steps: list[tuple[str, str]] = field(default_factory=list)  # (state, tactic) of the proof
    sources: list[str] = field(default_factory=list)  # what proposed each step of the proof
    retried: bool = False  # the first attempt's worker or proof assistant died; this is the second
    worker: str = ""  # host:pid of the Ray worker that made this attempt ('' in one process)

    @property
    def proved(self) -> bool:
        return self.status is Status.PROVED

    @property
    def attempted(self) -> bool:
        return self.status is not Status.DISCARDED

    def to_json(self) -> dict[str, Any]:
        return {"proved": self.proved, **asdict(self), "status": str(self.status)}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> EpisodeResult:
        """The result `to_json` wrote (a resumed run reads its finished theorems back)."""
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in row.items() if k in names}
        kept["status"] = Status(row["status"])
        kept["steps"] = [tuple(s) for s in row.get("steps", [])]
        return cls(**kept)


class Recorder(Protocol):
    """Where outcomes go (the replay store's `ReplayRecorder` is one)."""

    def outcome(
        self,
        theorem: Theorem,
        state: ProofState,
        tactic: str,
        result: StepResult,
        seconds: float,
        source: str = "",
    ) -> None:
        """One tactic call's outcome, as search makes it (`source`: the candidate's)."""

    def finish(self, theorem: Theorem, result: EpisodeResult) -> None:
        """The theorem is done (proved only if verified): store what it gave."""


def run_theorems(
    env: ProofEnv,
    policy: TacticPolicy,
    theorems: Iterable[Theorem],
    search_config: SearchConfig,
    recorder: Recorder | None = None,
    *,
    allow_original_axioms: bool = False,
    discard_unusable: bool = True,
) -> Iterator[EpisodeResult]:
    """Attempt each theorem in turn; yields one result per theorem, in order.

    A theorem that cannot be opened is `DISCARDED` (not attempted) when `discard_unusable`,
    and raises its `TheoremNotFound` / `TheoremUnusable` otherwise (a single `prove` reports
    it as bad input). An env error once the theorem is open (the assistant failing during
    search or verification) makes it `ERROR`: attempted, not proved. A missing toolchain or
    an unbuilt dependency always raises: it is no theorem's failure."""
    for theorem in theorems:
        hook = functools.partial(recorder.outcome, theorem) if recorder is not None else None
        result = attempt_theorem(
            env,
            policy,
            theorem,
            search_config,
            hook,
            allow_original_axioms=allow_original_axioms,
            discard_unusable=discard_unusable,
        )
        if result.proved:
            policy.learn(result.steps)  # online policies: usable by the next theorem
        if recorder is not None:
            recorder.finish(theorem, result)
        yield result


def attempt_theorem(
    env: ProofEnv,
    policy: TacticPolicy,
    theorem: Theorem,
    search_config: SearchConfig,
    on_outcome: OutcomeHook | None = None,
    *,
    allow_original_axioms: bool = False,
    discard_unusable: bool = True,
) -> EpisodeResult:
    """One theorem, as `run_theorems` (and each worker of `prover.pool`) attempts it: proved,
    refused, failed or out of budget; `DISCARDED` when it cannot be opened (or the error,
    without `discard_unusable`); `ERROR` when the assistant failed once it was open. A run
    error (missing toolchain, unbuilt dependency) raises."""
    t0 = time.perf_counter()
    try:
        return prove_theorem(
            env,
            policy,
            theorem,
            search_config,
            allow_original_axioms=allow_original_axioms,
            on_outcome=on_outcome,
        )
    except RUN_ERRORS:
        raise
    except (TheoremNotFound, TheoremUnusable) as e:
        if not discard_unusable:
            raise
        return _unfinished(theorem, Status.DISCARDED, t0, str(e))
    except EnvError as e:
        return _unfinished(theorem, Status.ERROR, t0, f"the proof assistant failed: {e}")


def _unfinished(theorem: Theorem, status: Status, t0: float, reason: str) -> EpisodeResult:
    return EpisodeResult(
        theorem=theorem.name, status=status, time_s=time.perf_counter() - t0, reason=reason
    )


def prove_theorem(
    env: ProofEnv,
    policy: TacticPolicy,
    theorem: Theorem,
    config: SearchConfig,
    *,
    allow_original_axioms: bool = False,
    on_outcome: OutcomeHook | None = None,
) -> EpisodeResult:
    """Open, search and verify one theorem. Raises `TheoremNotFound` or `TheoremUnusable`
    when it cannot be opened, `BackendUnavailable` / `DependencyNotBuilt` for the whole run,
    and the env's `EnvError` when the assistant fails later; `run_theorems` decides what each
    means."""
    t0 = time.perf_counter()
    root, imports = _open(env, theorem, policy.imports)
    dropped = imports != policy.imports
    res = best_first_search(env, policy, root, config, on_outcome)
    stats = {
        "expansions": res.expansions,
        "tactic_calls": res.tactic_calls,
        "policy_s": round(res.policy_s, 3),
        "env_s": round(res.env_s, 3),
        "overhead_s": round(res.overhead_s, 3),
        "outcomes": res.counts,
    }
    if res.status is not Status.PROVED:
        return EpisodeResult(
            theorem=theorem.name,
            status=res.status,
            time_s=time.perf_counter() - t0,
            search=stats,
            imports_dropped=dropped,
        )
    proof = list(res.proof)
    verdict, used = check_proof(env, theorem, proof, imports, allow_original_axioms)
    return EpisodeResult(
        theorem=theorem.name,
        status=Status.PROVED if verdict else Status.REJECTED,
        time_s=time.perf_counter() - t0,
        proof=proof,
        axioms=list(verdict.axioms),
        imports=list(used),
        reason=verdict.reason,
        search=stats,
        imports_dropped=dropped,
        steps=list(res.trajectory),
        sources=list(res.sources),
    )


def check_proof(
    env: ProofEnv,
    theorem: Theorem,
    proof: list[str],
    imports: Sequence[str],
    allow_original_axioms: bool = False,
) -> tuple[VerifyResult, tuple[str, ...]]:
    """`env.verify`'s verdict on `proof` (without the policy's `imports`, else with them; with
    `allow_original_axioms`, refused only for axioms: again, allowing those the theorem's own
    proof uses), and the imports it needed."""
    verdict, used = verify_found(env, theorem, proof, imports, ())
    if verdict.status is Status.USES_AXIOM and allow_original_axioms:
        original = env.original_axioms(theorem.file, theorem.name)
        if original:
            verdict, used = verify_found(env, theorem, proof, imports, original)
    return verdict, used


def recheck(
    env: ProofEnv,
    theorem: Theorem,
    recorded: EpisodeResult,
    imports: Sequence[str],
    *,
    allow_original_axioms: bool = False,
) -> EpisodeResult:
    """A result read back from a replay store (a resumed run) as it may be reported now: a
    recorded proof counts only if `env.verify` accepts it again, with the policy's `imports`
    (a store is a file anyone can write; its stored imports and axioms are not trusted)."""
    if not recorded.proved:
        return recorded
    verdict, used = check_proof(env, theorem, recorded.proof, imports, allow_original_axioms)
    if verdict:
        return replace(recorded, axioms=list(verdict.axioms), imports=list(used))
    return replace(
        recorded,
        status=Status.REJECTED,
        axioms=[],
        imports=[],
        reason=f"recorded as proved by an earlier session, refused on re-check: {verdict.reason}",
    )


def _open(
    env: ProofEnv, theorem: Theorem, imports: tuple[str, ...]
) -> tuple[ProofState, tuple[str, ...]]:
    """The theorem's root state, and the policy imports it was opened with."""
    try:
        try:
            return env.open(file=theorem.file, theorem=theorem.name, imports=imports), imports
        except ImportRejected:
            # The import would load this very file's compiled copy (or is unusable here):
            # search without it; the tactics that need it then simply fail.
            return env.open(file=theorem.file, theorem=theorem.name), ()
    except (*RUN_ERRORS, TheoremNotFound):
        raise
    except EnvError as e:
        raise TheoremUnusable(str(e)) from e


def verify_found(
    env: ProofEnv,
    theorem: Theorem,
    proof: list[str],
    imports: Sequence[str],
    allowed: Sequence[str],
) -> tuple[VerifyResult, tuple[str, ...]]:
    """The verdict on a found proof, as every search's: without the policy's imports, else
    with them (and the imports used)."""
    plain = env.verify(file=theorem.file, theorem=theorem.name, proof=proof, allowed_axioms=allowed)
    if plain or not imports:
        return plain, ()
    with_imports = env.verify(
        file=theorem.file,
        theorem=theorem.name,
        proof=proof,
        imports=imports,
        allowed_axioms=allowed,
    )
    # Refused either way: report the reason that involves the policy's imports, the more
    # specific one.
    return with_imports, tuple(imports)


# --- tallies ---------------------------------------------------------------------------------


def tally(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """Counts over episodes: attempted (not discarded), proved, pass@1, imports dropped, and
    the search totals (`search_totals`)."""
    attempted = [r for r in results if r.attempted]
    proved = sum(r.proved for r in attempted)
    return {
        "attempted": len(attempted),
        "proved": proved,
        "discarded": len(results) - len(attempted),
        # attempted without the policy's imports: they would load the file being proved
        "imports_dropped": sum(r.imports_dropped for r in attempted),
        # the proof assistant or its worker failed (after a retry, on a pool of workers)
        "errors": sum(r.status is Status.ERROR for r in attempted),
        "retried": sum(r.retried for r in results),
        "pass_at_1": proved / len(attempted) if attempted else 0.0,
        "search": search_totals(results),
    }


def search_totals(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """Tactic calls per second and the share of search time in policy / env / overhead."""
    keys = ("tactic_calls", "policy_s", "env_s", "overhead_s")
    tot = {k: sum(r.search.get(k, 0) for r in results) for k in keys}
    wall = tot["policy_s"] + tot["env_s"] + tot["overhead_s"]
    return {
        **{k: round(v, 3) for k, v in tot.items()},
        "calls_per_s": round(tot["tactic_calls"] / wall, 2) if wall else 0.0,
        "share": {
            k[:-2]: round(tot[k] / wall, 4) if wall else 0.0
            for k in ("policy_s", "env_s", "overhead_s")
        },
    }


def run_all(
    env: ProofEnv,
    policy: TacticPolicy,
    theorems: Sequence[Theorem],
    search_config: SearchConfig,
    recorder: Recorder | None = None,
    *,
    desc: str,
    log: Callable[[str], None] | None = None,
    allow_original_axioms: bool = False,
) -> tuple[list[EpisodeResult], float]:
    """`run_theorems` over all of `theorems` with a progress bar of the live prove rate (and a
    line per theorem to `log`); the results and the wall time in seconds."""
    live = LiveRate(len(theorems), desc, log)
    runs = run_theorems(
        env, policy, theorems, search_config, recorder, allow_original_axioms=allow_original_axioms
    )
    for theorem, result in zip(theorems, runs, strict=True):
        live.add(theorem.shown, result)
    return live.close(), live.wall_s


class LiveRate:
    """Collects episode results with one progress bar (proved / attempted, the live rate,
    ETA; on a pool, busy workers too) and an optional line per theorem. `earlier`: results of
    an interrupted run, counted from the start; `quiet`: no bar."""

    def __init__(
        self,
        total: int,
        desc: str,
        log: Callable[[str], None] | None = None,
        earlier: Sequence[EpisodeResult] = (),
        quiet: bool = False,
    ) -> None:
        self.bar = tqdm(
            total=total, initial=len(earlier), desc=desc, file=sys.stderr, disable=quiet
        )
        self.log = log
        self.results: list[EpisodeResult] = list(earlier)
        self.workers: int | None = None  # set by a pool: then the bar shows busy / workers
        self._busy = 0
        self.t0 = time.perf_counter()
        self.wall_s = 0.0

    def busy(self, n: int) -> None:
        """`n` workers are attempting a theorem now."""
        if n != self._busy:
            self._busy = n
            self._postfix()

    def add(self, label: str, r: EpisodeResult) -> None:
        self.results.append(r)
        self.bar.update(1)
        proved, attempted, rate = self._postfix()
        if self.log is not None:
            again = ", retried" if r.retried else ""
            self.log(
                f"{label}: {r.status} ({r.time_s:.1f}s{again}) | proved {proved}/{attempted} "
                f"= {rate}"
            )

    def _postfix(self) -> tuple[int, int, str]:
        proved = sum(x.proved for x in self.results)
        attempted = sum(x.attempted for x in self.results)
        rate = f"{proved / max(attempted, 1):.1%}"
        shown = {"proved": f"{proved}/{attempted}", "rate": rate}
        if self.workers is not None:
            shown["busy"] = f"{self._busy}/{self.workers}"
        self.bar.set_postfix(shown)
        return proved, attempted, rate

    def close(self) -> list[EpisodeResult]:
        self.bar.close()
        self.wall_s = time.perf_counter() - self.t0
        return self.results
