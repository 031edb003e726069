"""miniF2F evaluation harness: statements, the Lean files written for them, pass@1 counting
with discarded statements apart, the JSON fields; run on a scripted Lean env (the REPL
protocol itself is tested in test_lean_repl.py; a real `lake` is not available here).

Run: pytest tests/test_minif2f.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import minif2f
from eval.summary import EvalConfig
from prover.cli import main
from prover.envs import EnvError, Failed, ProofState, Proved, VerifyResult
from prover.policies.lean_portfolio import LeanPortfolioPolicy

from .conftest import SHARED_DATA

HEADER = "import Mathlib\n\nopen Real\n\n"
STATEMENTS = {
    "easy": ("valid", "theorem easy : (2 : ℕ) + 2 = 4 := by\n"),
    "hard": ("valid", "theorem hard (x : ℝ) : x ^ 2 ≥ 0 := by\n"),
    "broken": ("valid", "theorem broken : foo := by\n"),
    "other": ("test", "theorem other : True := by\n"),
}
ROWS = [
    {"name": name, "split": split, "header": HEADER, "formal_statement": statement}
    for name, (split, statement) in STATEMENTS.items()
]


class ScriptedLean:
    """Opens the written file (checks its layout); `norm_num` proves `easy`; `broken` does
    not elaborate; verify accepts only `norm_num`."""

    def __init__(self) -> None:
        self.verified: list[list[str]] = []

    def open(self, *, file, theorem, imports=()):
        text = Path(file).read_text()
        assert text.startswith(HEADER) and text.rstrip().endswith(":= by\n  sorry")
        if theorem == "broken":
            raise EnvError("Lean rejected broken: unknown identifier 'foo'")
        return ProofState(f"⊢ {theorem}", 0, 1)

    def step(self, state, tactic):
        if state.text == "⊢ easy" and tactic == "norm_num":
            return Proved((tactic,))
        return Failed("linarith failed")

    def verify(self, *, file, theorem, proof, imports=(), **kw):
        self.verified.append(list(proof))
        return VerifyResult(list(proof) == ["norm_num"], axioms=("propext",))


def write_rows(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_pass_at_1_counts_discarded_apart(tmp_path: Path) -> None:
    rows = minif2f.load_statements(write_rows(tmp_path / "m.jsonl"), "valid")
    assert [r["name"] for r in rows] == ["easy", "hard", "broken"]
    env = ScriptedLean()
    config = EvalConfig("valid", None, time_limit_s=5, tactic_timeout=1)
    summary = minif2f.evaluate(rows, LeanPortfolioPolicy(), config, env, work_dir=tmp_path / "w")
    assert {"split", "attempted", "proved", "discarded", "pass_at_1", "budget", "results"} <= set(
        summary
    )
    assert (summary["attempted"], summary["proved"], summary["discarded"]) == (2, 1, 1)
    assert summary["pass_at_1"] == 0.5 and summary["split"] == "valid"
    by_name = {r["theorem"]: r for r in summary["results"]}
    assert by_name["easy"]["proved"] and by_name["easy"]["proof"] == ["norm_num"]
    assert by_name["hard"]["status"] == "failed" and by_name["broken"]["status"] == "discarded"
    assert {"theorem", "proved", "proof", "time_s"} <= set(by_name["easy"])
    assert env.verified == [["norm_num"]]  # nothing counted without the whole-file recheck
    assert (tmp_path / "w" / "valid" / "easy.lean").is_file()


def test_lean_runs_record_replay_as_coq_runs_do(tmp_path: Path) -> None:
    from prover.replay import ReplayStore

    rows = minif2f.load_statements(write_rows(tmp_path / "m.jsonl"), "valid")
    config = EvalConfig("valid", None, time_limit_s=5, tactic_timeout=1)
    with ReplayStore(tmp_path / "replay.sqlite") as store:
        summary = minif2f.evaluate(
            rows,
            LeanPortfolioPolicy(),
            config,
            ScriptedLean(),
            work_dir=tmp_path / "w",
            store=store,
        )
        counts = store.counts()
        proofs = store.proofs()
    calls = summary["search"]["tactic_calls"]
    assert (
        calls > 1 and sum(counts[k] for k in ("progress", "proved", "failed", "timeout")) == calls
    )
    assert counts["proved"] == 1 and counts["proofs"] == 1  # the discarded one left no row
    assert proofs[0]["theorem"] == "easy" and proofs[0]["tactics"] == ["norm_num"]
    assert proofs[0]["model_version"] == "portfolio"


def test_statement_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid or test"):
        minif2f.load_statements(write_rows(tmp_path / "m.jsonl"), "train")
    with pytest.raises(FileNotFoundError, match="--data"):
        minif2f.load_statements(tmp_path / "nope.jsonl", "valid")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: not a miniF2F statement"):
        minif2f.load_statements(bad, "valid")


@pytest.mark.skipif(
    not (SHARED_DATA / "minif2f").is_dir(), reason="../shared/data/minif2f is not present"
)
def test_shared_statements_load() -> None:
    for split in ("valid", "test"):
        rows = minif2f.load_statements(None, split)
        assert len(rows) == 244
        assert all(r["formal_statement"].rstrip().endswith(":= by") for r in rows)


def test_cli_without_lake_is_a_usage_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no lake
    data = write_rows(tmp_path / "m.jsonl")
    code = main(["eval", "minif2f", "--split", "valid", "--data", str(data), "--limit", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "lake" in err and "Traceback" not in err
    assert main(["eval", "minif2f", "--split", "train", "--data", str(data)]) == 2


def _checkout(root: Path) -> Path:
    for split, name, statement in [
        ("Valid", "easy", "theorem easy : (2 : ℕ) + 2 = 4 := by"),
        ("Test", "other", "theorem other (x : ℝ)\n    (h : 0 < x) : 0 ≤ x := by"),
    ]:
        folder = root / "MiniF2F" / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.lean").write_text(f"{HEADER}{statement}\n  sorry\n")
    return root


def test_statements_from_an_upstream_checkout(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "miniF2F-lean4")
    (test,) = minif2f.load_statements(root, "test")
    assert test["name"] == "other" and test["header"] == HEADER
    assert test["formal_statement"] == "theorem other (x : ℝ)\n    (h : 0 < x) : 0 ≤ x := by\n"
    written = minif2f.statement_file(test, tmp_path / "w").read_text()
    assert written == f"{HEADER}theorem other (x : ℝ)\n    (h : 0 < x) : 0 ≤ x := by\n  sorry\n"
    with pytest.raises(FileNotFoundError, match="checkout"):
        minif2f.load_statements(tmp_path, "valid")


def test_download_clones_the_pinned_commit_or_says_what_to_do(tmp_path, monkeypatch) -> None:
    import subprocess

    upstream = _checkout(tmp_path / "upstream")
    git = ["git", "-C", str(upstream), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(upstream)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "statements"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setattr(minif2f, "DEFAULT_DATA", tmp_path / "absent.jsonl")
    monkeypatch.setattr(minif2f, "DOWNLOAD_DIR", tmp_path / "dl" / "miniF2F-lean4")
    monkeypatch.setattr(minif2f, "UPSTREAM", str(upstream))
    monkeypatch.setattr(minif2f, "UPSTREAM_COMMIT", sha)
    (row,) = minif2f.load_statements(None, "valid")
    assert row["name"] == "easy" and (tmp_path / "dl" / "miniF2F-lean4" / "MiniF2F").is_dir()

    monkeypatch.setattr(minif2f, "DOWNLOAD_DIR", tmp_path / "dl2" / "miniF2F-lean4")
    monkeypatch.setattr(minif2f, "UPSTREAM", str(tmp_path / "no_such_repo"))
    with pytest.raises(FileNotFoundError, match="cloning .* failed .*--data"):
        minif2f.load_statements(None, "valid")
