"""Attack on a resumed run (`eval --out DIR`, `prover.pool`): the run folder's replay store is a
file anyone can write, so a forged "proved" row for a false statement must not be reported as
proved when the run resumes. Each recorded proof is verified again by Coq before it counts.

Run: pytest tests/soundness/test_resume.py
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from prover.cli import main

from ..conftest import mark_as_trace

LEMMAS = """Require Import Lia.
Lemma good : forall n : nat, n + 0 = n.
Proof. Admitted.
Lemma bad_admit : 1 = 2.
Proof. Admitted.
Lemma bad_axiom : 2 = 3.
Proof. Admitted.
Lemma later : forall n : nat, 0 + n = n.
Proof. Admitted.
"""
NAMES = ["good", "bad_admit", "bad_axiom", "later"]

# what an attacker writes into the store's rows for the two false lemmas
FORGED = {
    "bad_admit": {"proof": ["admit."], "imports": []},
    "bad_axiom": {"proof": ["exact cheat."], "imports": ["Axiom cheat : 2 = 3."]},
}


def trace(root: Path) -> Path:
    (root / "novel_files").mkdir(parents=True)
    src = root / "Forged.v"
    src.write_text(LEMMAS)
    records = [{"file_path": str(src), "full_name": f"Forged.{n}", "theorem": n} for n in NAMES]
    (root / "novel_files" / "test.json").write_text(json.dumps(records))
    mark_as_trace(root)
    return root


def test_a_forged_proof_in_a_resumed_run_is_refused(
    tmp_path: Path, capsys, coq_installed: None
) -> None:
    data = trace(tmp_path / "trace")
    out = tmp_path / "run"
    argv = ["eval", "coq", "--data", str(data), "--split", "novel_files/test"]
    argv += ["--timeout", "10", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    first = json.loads((out / "summary.json").read_text())
    by = {r["theorem"]: r for r in first["results"]}
    assert by["good"]["proved"] and not by["bad_admit"]["proved"]

    conn = sqlite3.connect(out / "replay.sqlite")
    with conn:
        for name, forged in FORGED.items():
            (row,) = conn.execute("SELECT result FROM episodes WHERE theorem = ?", (name,))
            result = json.loads(row[0])
            result.update(forged, proved=True, status="proved", axioms=[], reason="")
            result["steps"] = [["goal", t] for t in forged["proof"]]
            conn.execute(
                "UPDATE episodes SET status = 'proved', result = ? WHERE theorem = ?",
                (json.dumps(result), name),
            )
        # one theorem left to do, so the run resumes rather than only re-reporting
        conn.execute("DELETE FROM episodes WHERE theorem = 'later'")
    conn.close()
    capsys.readouterr()

    assert main(argv) == 0
    assert "already recorded" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    by = {r["theorem"]: r for r in summary["results"]}
    for name in FORGED:
        assert not by[name]["proved"] and by[name]["status"] == "rejected", by[name]
        assert "refused on re-check" in by[name]["reason"]
    assert by["good"]["proved"] and by["later"]["proved"]  # real proofs stand
    assert summary["proved"] == first["proved"]
