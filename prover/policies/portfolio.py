"""The Coq portfolio baseline: closing automation tactics, each wrapped in `solve [...]` so it
fails unless it closes the goal, then a few structural steps (`intros`, `simpl`, induction on
the first `nat`/`list` variable, `split`) after which search tries the closers again.

The closers include the decision procedures for integer and ring arithmetic (`lia`, `nia`,
`ring`, `field`: they fail fast where their library is not loaded). With `arith=True` (the
miniF2F benchmark, whose files load the reals) the policy also imports `Lra` and `Psatz` and
proposes the real-arithmetic procedures: `lra`, `nra`, `psatz R 2` where its back end (the
`csdp` program, Debian's coinor-csdp) is installed, and `interval` where the Coq Interval
library (Debian's libcoq-interval) is. Those imports load `Coq.Reals`, so they are not in the
default portfolio: on a standard-library split they would load held-out files
(`coq_trace.POLICY_IMPORTS`).

`arith=True` also adds a few combined closers (`ARITH_COMBINATORS`): preparation steps before a
decision procedure, for statements stated the way competition problems are (a function given
by `forall x, f x = ...` and used at points, absolute values, integer division, fractions,
numbers that only compute). They were chosen on the training half of miniF2F-Coq `valid`
(`bench/minif2f_closers.py`: each kind closed problems there that no single closer, nor the
search over them, did; the rewriting one with `nra` closed the same ones as with `lra`, and
stays for definitions that leave a non-linear goal), never on the held-out half or `test`.
"""

from __future__ import annotations

import re
import shutil
from functools import cache

from prover.envs.base import ProofState
from prover.policies.base import Candidate, TacticPolicy

CLOSERS = (
    "reflexivity",
    "assumption",
    "auto",
    "trivial",
    "discriminate",
    "congruence",
    "lia",
    "ring",
    "field",
    "tauto",
    "intuition",
    "simpl; auto",
    "eauto",
    "firstorder",
    "nia",
)
ARITH_IMPORTS = ("From Coq Require Import Lia Lra Psatz.",)
# Rewrite with every hypothesis `forall _, _ = _` (one binder, no premise: typically a
# function's definition, `forall x, f x = ...`) wherever it applies
UNFOLD_DEFS = "repeat match goal with H : forall _, _ = _ |- _ => progress rewrite ?H in * end"
ARITH_COMBINATORS = (
    f"intros; {UNFOLD_DEFS}; lra",
    f"intros; {UNFOLD_DEFS}; nra",
    "intros; subst; compute; lra",
    "intros; field_simplify; lra",
    "intros; unfold Rabs in *; repeat destruct Rcase_abs; lra",
    "intros; Z.to_euclidean_division_equations; lia",
)
INTERVAL_IMPORT = "From Interval Require Import Tactic."


@cache
def arith_tools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(closers, imports) of the real-arithmetic procedures this machine has (module
    docstring): `lra`, `nra`, then `psatz R 2` if `csdp` is on PATH and `interval` if Coq's
    Interval library is installed. `PortfolioPolicy(arith=True)` adds `ARITH_COMBINATORS`."""
    from prover.envs.base import EnvError
    from prover.envs.coq_project import coqlib

    closers, imports = ["lra", "nra"], [*ARITH_IMPORTS]
    if shutil.which("csdp"):
        closers.append("psatz R 2")
    try:
        interval = (coqlib() / "user-contrib" / "Interval" / "Tactic.vo").is_file()
    except (EnvError, OSError):
        interval = False
    if interval:
        closers.append("interval")
        imports.append(INTERVAL_IMPORT)
    return tuple(closers), tuple(imports)


# A variable of a data type: `nat`, `bool`, `list A`, `option (A * B)`, `positive`, ...
_VAR_RE = re.compile(r"^([\w', ]+) : ([A-Za-z_][\w.]*(?: [\w.]+| \(.+\))?)$", re.M)
_NOT_DATA = {"Prop", "Set", "Type"}


def _first_inductive_var(state: ProofState) -> str | None:
    """The first variable of the (first) goal whose type is data (nat, bool, list _, ...),
    not a proposition or a type: induction on it is the classic first step."""
    first_goal = state.text.split("\n\n")[0]
    hyps = first_goal.split("============================")[0]
    for m in _VAR_RE.finditer(hyps):
        head = m.group(2).split()[0]
        if head not in _NOT_DATA and head[0].islower() or head in ("N", "Z", "Q", "R"):
            return m.group(1).split(",")[0].strip()
    return None


def _goal_is_quantified(state: ProofState) -> bool:
    first_goal = state.text.split("\n\n")[0]
    concl = first_goal.split("============================")[-1].strip()
    return concl.startswith("forall") or "->" in concl or concl.startswith("~")


class PortfolioPolicy(TacticPolicy):
    """Fixed automation portfolio (see module docstring)."""

    name = "portfolio"
    version = "portfolio-2"  # 2: ring, field and nia joined the closers
    # with arith: 2 = ARITH_COMBINATORS joined the closers
    imports: tuple[str, ...] = ("From Coq Require Import Lia.",)

    def __init__(
        self, closers: tuple[str, ...] = CLOSERS, *, arith: bool = False, combinators: bool = True
    ) -> None:
        """`arith`: the real-arithmetic procedures too, and with `combinators` (for
        ablations) `ARITH_COMBINATORS` after them."""
        self.closers = closers
        if arith:
            extra, imports = arith_tools()
            combined = ARITH_COMBINATORS if combinators else ()
            self.closers = (*closers, *extra, *combined)
            self.imports = imports
            self.version = f"portfolio+arith{2 if combined else ''}[" + ",".join(extra) + "]"

    def propose(self, state: ProofState) -> list[Candidate]:
        out = [
            Candidate(f"solve [{t}].", -0.1 * (i + 1), "closer") for i, t in enumerate(self.closers)
        ]
        structural = []
        if _goal_is_quantified(state):
            structural.append("intros.")
        var = _first_inductive_var(state)
        if var is not None:
            structural.append(f"induction {var}.")
        structural += ["simpl.", "split."]
        out += [Candidate(t, -2.0 - 0.5 * i, "closer") for i, t in enumerate(structural)]
        return out
