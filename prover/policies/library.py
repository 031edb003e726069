"""Library programs as candidates: any policy, plus calls of a verified tactic library's
programs (`springtail introspect`), their name parameters filled from the state.

A program whose parameters are all names is offered with each assignment of the goal's
hypothesis and variable names to its parameters (at most `max_calls` per program, in the
order the names appear), after the wrapped policy's own candidates. Programs that take a
tactic are left to policies that can write one. The library is loaded by the policy's import
(`From Springtail Require Import SpringtailLib.`, with the env's `library=` option); every
proof that calls it is verified with it loaded, like any other.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prover.envs.base import PARAM_NAME, PROGRAM_NAME, ProofState
from prover.envs.coq_library import LIBRARY_IMPORT
from prover.envs.coq_ltac import local_names
from prover.policies.base import Candidate, PolicyError, TacticPolicy

_NAME_RE = re.compile(PROGRAM_NAME)
_PARAM_RE = re.compile(PARAM_NAME)


def library_programs(folder: Path) -> list[dict[str, Any]]:
    """The verified programs of `folder/library.json`, in library order, each checked to be
    a program as `springtail introspect` writes it (a malformed file is a `PolicyError`)."""
    path = folder / "library.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        programs = [p for p in payload["programs"] if p["verified"] is True]
        for p in programs:
            _check_program(p)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise PolicyError(
            f"{path}: not a library made by `springtail introspect` ({type(e).__name__}: {e})"
        ) from None
    return programs


def _check_program(p: dict[str, Any]) -> None:
    params, kinds = p["params"], p["param_kinds"]
    ok = (
        isinstance(p["name"], str)
        and _NAME_RE.fullmatch(p["name"]) is not None
        and isinstance(p["body"], str)
        and isinstance(params, list)
        and all(isinstance(x, str) and _PARAM_RE.fullmatch(x) for x in params)
        and isinstance(kinds, list)
        and len(kinds) == len(params)
        and all(k in ("name", "tactic") for k in kinds)
        and p["arity"] == len(params)
    )
    if not ok:
        raise ValueError(f"program {str(p.get('name'))[:40]!r} is malformed")


def _in_order(names: set[str], text: str) -> list[str]:
    """`names` by where each first appears as a whole word in `text`, then by name."""

    def first(name: str) -> int:
        m = re.search(rf"(?<![\w']){re.escape(name)}(?![\w'])", text)
        return m.start() if m else len(text)

    return sorted(names, key=lambda n: (first(n), n))


class LibraryPolicy(TacticPolicy):
    """`base`'s candidates, then calls of the library's programs (see module docstring)."""

    def __init__(self, base: TacticPolicy, folder: Path, max_calls: int = 6) -> None:
        self.base = base
        self.name = base.name
        self.version = f"{base.version}+library"
        self.imports = (*base.imports, LIBRARY_IMPORT)
        self.programs = [
            p for p in library_programs(folder) if all(k == "name" for k in p["param_kinds"])
        ]
        self.max_calls = max_calls

    def to_device(self, device: str) -> bool:
        return self.base.to_device(device)

    def propose(self, state: ProofState) -> list[Candidate]:
        return self.propose_batch([state])[0]

    def propose_batch(self, states: Sequence[ProofState]) -> list[list[Candidate]]:
        return [
            [*own, *self._calls(s, min((c.logprob for c in own), default=0.0))]
            for s, own in zip(states, self.base.propose_batch(states), strict=True)
        ]

    def begin(self, root: ProofState) -> None:
        self.base.begin(root)

    def learn(self, steps: Sequence[tuple[str, str]]) -> None:
        self.base.learn(steps)

    def _calls(self, state: ProofState, floor: float) -> list[Candidate]:
        names = _in_order(local_names(state.text), state.text)
        out = []
        for rank, program in enumerate(self.programs):
            fills = itertools.islice(
                itertools.permutations(names, program["arity"]), self.max_calls
            )
            for k, args in enumerate(fills):
                tactic = " ".join((program["name"], *args)) + "."
                out.append(Candidate(tactic, floor - 1.0 - 0.1 * rank - 0.01 * k, "library"))
        return out
