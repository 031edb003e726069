"""Proof minimisation ("why did this work?"): on real Coq it drops the steps a proof does not
need and replaces runs by one closer, keeps a shorter proof only when `env.verify` confirms
it, and the result compiles with `coqc` on its own; a shorter proof the checker refuses never
replaces the original.

Run: pytest tests/test_minimise.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from prover.envs import get_env
from prover.envs.base import Failed, Progress, ProofState, Proved, VerifyResult
from prover.introspect.corpus import Corpus, from_replay, from_trace
from prover.introspect.minimise import add_to_replay, minimise, minimise_corpus
from prover.replay import ReplayStore

from .conftest import mark_as_trace

STATEMENTS = {
    "padded": "Lemma padded : forall n : nat, n + 0 = n.",
    "sym": "Lemma sym : forall a b : nat, a = b -> b = a.",
    "tight": "Lemma tight : True.",
    "needs": "Lemma needs : forall n m : nat, tw n * m = 2 * n * m.",
}
PRELUDE = (
    "Definition tw (n : nat) := n + n.\n"
    "Lemma tw_spec : forall n, tw n = 2 * n.\n"
    "Proof. intros n. unfold tw. simpl. rewrite <- plus_n_O. reflexivity. Qed.\n"
)
PROOFS = {
    "padded": "intros n. simpl. induction n as [|n IHn]. reflexivity. simpl. rewrite IHn. "
    "reflexivity.",
    "sym": "intros a b H. symmetry. rewrite H. reflexivity.",
    "tight": "exact I.",
    "needs": "intros n m. simpl. rewrite tw_spec. reflexivity.",
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prover.envs.coq_trace import trace_file

    root = tmp_path_factory.mktemp("minimise")
    src = root / "Min.v"
    src.write_text(
        PRELUDE + "".join(f"{STATEMENTS[k]}\nProof. {PROOFS[k]} Qed.\n" for k in STATEMENTS),
        encoding="utf-8",
    )
    ft = trace_file(src)
    assert not ft.error and len(ft.theorems) == 5
    (root / "novel_files").mkdir()
    (root / "novel_files" / "train.json").write_text(json.dumps(ft.theorems))
    mark_as_trace(root)
    return root


@pytest.fixture(scope="module")
def minimised(traced: Path):
    corpus = from_trace(traced)
    with get_env("coq", tactic_timeout=5) as env:
        results, summary = minimise_corpus(env, corpus, log=lambda _: None)
    return corpus, {m.theorem: m for m in results}, summary


def _compiles(statement: str, proof: tuple[str, ...], folder: Path) -> subprocess.CompletedProcess:
    src = folder / "Check.v"
    src.write_text(f"{statement}\nProof.\n" + "\n".join(proof) + "\nQed.\n", encoding="utf-8")
    return subprocess.run(["coqc", str(src)], capture_output=True, text=True, cwd=folder)


def test_padded_proofs_shrink_and_the_result_compiles_on_its_own(minimised, tmp_path) -> None:
    _, results, summary = minimised
    for name in ("padded", "sym"):
        m = results[name]
        assert m.verdict == "shortened", m.verdict
        assert len(m.after) < len(m.before) == len(PROOFS[name].split(". "))
        assert len(m.needed) == len(m.before) and not all(m.needed)
        kept = [s for s, needed in zip(m.before, m.needed, strict=True) if needed]
        assert [s for s in m.after if s in kept] == kept  # kept steps, in their order
        run = _compiles(STATEMENTS[name], m.after, tmp_path)
        assert run.returncode == 0, (m.after, run.stderr)
    assert summary["proofs"] == 5 and summary["shortened"] >= 3
    assert summary["steps_after"] < summary["steps_before"]


def test_the_steps_a_proof_needs_are_kept_and_named(minimised, tmp_path) -> None:
    _, results, _ = minimised
    m = results["needs"]  # no closer rewrites with tw_spec; `reflexivity` computes 2 * n
    assert m.verdict == "shortened" and m.replaced == []
    assert m.needed == (True, False, True, True)
    assert m.after == ("intros n m.", "rewrite tw_spec.", "reflexivity.")
    statement = PRELUDE + STATEMENTS["needs"]
    assert _compiles(statement, m.after, tmp_path).returncode == 0


def test_a_minimal_proof_is_left_as_it_is(minimised) -> None:
    _, results, _ = minimised
    m = results["tight"]
    assert m.verdict == "unchanged" and m.after == m.before == ("exact I.",)
    assert m.needed == (True,)


def test_the_corpus_holds_the_minimised_proofs(minimised) -> None:
    corpus, results, _ = minimised
    by_name = {p.theorem: p for p in corpus.proofs}
    for name, m in results.items():
        assert by_name[name].sentences == m.after
        assert len(by_name[name].trees) == len(m.after)


def _store_original(store: ReplayStore, name: str, file: str) -> None:
    tactics = [t if t.endswith(".") else t + "." for t in PROOFS[name].split(". ")]
    steps = [(f"state {k}", t) for k, t in enumerate(tactics)]
    store.add_proof(theorem=name, file=file, tactics=tactics, steps=steps)


def test_minimised_proofs_join_the_replay_store_for_its_own_theorems(minimised, tmp_path) -> None:
    _, results, _ = minimised
    with ReplayStore(tmp_path / "r.sqlite") as store:
        _store_original(store, "padded", results["padded"].file)
        _store_original(store, "sym", results["sym"].file)
        assert results["padded"].shortened and results["needs"].shortened
        assert add_to_replay(store, list(results.values()), round=3) == 2  # not `needs`
        assert add_to_replay(store, list(results.values()), round=3) == 0  # stored once
        rows = store.conn.execute("SELECT theorem, round, model_version FROM proofs").fetchall()
    assert sorted(r for r in rows if r[2] == "minimised") == [
        ("padded", 3, "minimised"),
        ("sym", 3, "minimised"),
    ]
    again = from_replay(tmp_path / "r.sqlite")
    assert {p.sentences for p in again.proofs} >= {results["padded"].after, results["sym"].after}


class _LyingEnv:
    """Interactively everything closes; the whole-file check refuses it."""

    def open(self, *, file, theorem, imports=()):
        return ProofState("goal", 1, 1)

    def step(self, state, tactic):
        if tactic == "auto.":
            return Proved((tactic,))
        return Progress(state) if tactic in ("intros.", "simpl.") else Failed("no")

    def original_axioms(self, file, theorem):
        return ()

    def verify(self, **kwargs):
        self.verified = kwargs["proof"]
        return VerifyResult(False, "the kernel says no")


def test_a_shorter_proof_the_checker_refuses_never_replaces_the_original() -> None:
    corpus = Corpus()
    steps = [("g0", "intros.", "g1"), ("g1", "simpl.", "g2"), ("g2", "auto.", None)]
    corpus.add("t", "M.t", Path("M.v"), steps)
    env = _LyingEnv()
    m = minimise(env, corpus.proofs[0])  # type: ignore[arg-type]
    assert env.verified == ["auto."]  # the shorter proof was found, then checked
    assert m.verdict.startswith("not verified: the kernel says no")
    assert m.after == m.before == ("intros.", "simpl.", "auto.")
    assert m.needed == (True, True, True)


def test_cli_minimise_reports_which_steps_were_needed(traced, tmp_path, capsys) -> None:
    from prover.cli import main

    lib, db = tmp_path / "lib", tmp_path / "replay.sqlite"
    with ReplayStore(db) as store:  # the prover's own proof of `padded`, as written
        _store_original(store, "padded", str(traced / "Min.v"))
    argv = ["introspect", "--trace", str(traced), "--out", str(lib), "--iterations", "2"]
    assert main([*argv, "--replay", str(db), "--minimise", "--minimise-limit", "2"]) == 0
    assert "minimised 2 proofs" in capsys.readouterr().out
    records = [json.loads(line) for line in (lib / "minimised.jsonl").read_text().splitlines()]
    assert [r["theorem"] for r in records] == ["padded", "tw_spec"]  # replay proofs first
    assert [r["verdict"] for r in records] == ["shortened", "shortened"]
    payload = json.loads((lib / "library.json").read_text())
    assert payload["minimisation"]["proofs"] == 2
    assert payload["minimisation"]["added_to_replay"] == 1  # tw_spec is not the store's
    with ReplayStore(db, readonly=True) as store:
        assert store.counts()["proofs"] == 2


class _ScriptEnv:
    """s0 -a-> s1 -b-> s2 -c-> s3 -d-> done, and `X.` takes s0 straight to s2."""

    moves = {("s0", "a."): "s1", ("s1", "b."): "s2", ("s2", "c."): "s3", ("s0", "X."): "s2"}

    def open(self, *, file, theorem, imports=()):
        return ProofState("s0", 0, 1)

    def step(self, state, tactic):
        if (state.text, tactic) == ("s3", "d."):
            return Proved((tactic,))
        nxt = self.moves.get((state.text, tactic))
        return Progress(ProofState(nxt, 0, 1)) if nxt else Failed("no")

    def original_axioms(self, file, theorem):
        return ()

    def verify(self, **kwargs):
        return VerifyResult(True)


@pytest.mark.parametrize(
    ("max_steps", "after"),
    [
        (5, ("a.", "b.", "c.", "d.")),  # X found, but no budget left to confirm the rest
        (7, ("X.", "c.", "d.")),  # confirmed, then the budget ends the drops
        (100, ("X.", "c.", "d.")),
    ],
)
def test_a_spent_budget_keeps_the_shortest_confirmed_proof(max_steps, after) -> None:
    corpus = Corpus()
    steps = [("s0", "a.", "s1"), ("s1", "b.", "s2"), ("s2", "c.", "s3"), ("s3", "d.", None)]
    corpus.add("t", "M.t", Path("M.v"), steps)
    m = minimise(_ScriptEnv(), corpus.proofs[0], closers=["X."], max_steps=max_steps)  # type: ignore[arg-type]
    assert m.after == after and m.steps_run <= max_steps
    if after != m.before:
        assert m.verdict == "shortened" and m.needed == (False, False, True, True)
        assert m.replaced == [{"closer": "X.", "steps": [0, 2]}]
        assert m.states == ("s0", "s2", "s3")


def test_a_minimisation_out_of_time_keeps_the_original(monkeypatch) -> None:
    import prover.introspect.minimise as minimise_module

    clock = iter(range(0, 1000, 30))  # every reading is 30 s later
    monkeypatch.setattr(minimise_module.time, "perf_counter", lambda: next(clock))
    corpus = Corpus()
    steps = [("s0", "a.", "s1"), ("s1", "b.", "s2"), ("s2", "c.", "s3"), ("s3", "d.", None)]
    corpus.add("t", "M.t", Path("M.v"), steps)
    m = minimise(_ScriptEnv(), corpus.proofs[0], closers=["X."], max_seconds=50)  # type: ignore[arg-type]
    assert m.after == m.before and m.verdict.startswith("error: the budget ran out")
