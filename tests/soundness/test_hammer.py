"""Attacks on the CoqHammer path: the env records the reconstruction CoqHammer prints in place
of `hammer.`, and a hybrid search may call `hammer.` with a longer per-call limit. A user file
controls what a tactic prints and may redefine `hammer`/`sauto`; none of that may make a false
statement PROVED — whatever is recorded is one checked tactic, and `verify` re-checks the
whole proof from scratch.

Run: pytest tests/soundness/test_hammer.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.data import Theorem
from prover.envs import Failed, TimedOut
from prover.episodes import prove_theorem
from prover.policies.hammer import HammerPolicy
from prover.search import SearchConfig

# Each file states 1 = 2 and redefines or shadows what the hammer path runs.
ATTACKS = {
    # a user `hammer` that admits and prints a forged reconstruction
    "forged_reconstruction": """\
Ltac hammer := idtac "Replace the hammer tactic with: admit."; admit.
Lemma bad : 1 = 2.
Proof. Admitted.
""",
    # a reconstruction that smuggles a second sentence (ends the proof, adds an axiom)
    "smuggled_sentence": """\
Ltac hammer := idtac "Replace the hammer tactic with: idtac. Admitted. Axiom x : 1 = 2.";
  admit.
Lemma bad : 1 = 2.
Proof. Admitted.
""",
    # sauto redefined as give_up (search tries it before hammer)
    "sauto_gives_up": """\
Ltac sauto := give_up.
Ltac hammer := idtac "Replace the hammer tactic with: sauto."; give_up.
Lemma bad : 1 = 2.
Proof. Admitted.
""",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_hostile_hammer_never_proves_a_false_statement(
    name: str, coq_env, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.v"
    path.write_text(ATTACKS[name])
    res = prove_theorem(
        coq_env,
        HammerPolicy(hammer_timeout_s=5),
        Theorem(path, "bad"),
        SearchConfig(time_limit_s=20),
    )
    assert not res.proved, res
    state = coq_env.open(file=path, theorem="bad")  # the user's own `hammer`, no imports
    out = coq_env.step(state, "hammer.", timeout_s=5)
    assert isinstance(out, (Failed, TimedOut)), out
