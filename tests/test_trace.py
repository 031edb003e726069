"""Tracing Coq files into LeanDojo-layout splits (with the held-out closure of the policies'
imports kept in train), the loaders that read them back, and the refusal of old traces.

Run: pytest tests/test_trace.py   (needs Coq and CoqHammer)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prover.data import DataFormatError, check_trace, load_steps, split_theorems
from prover.envs import EnvError, Progress, Proved, get_env
from prover.envs.coq_closure import import_closure
from prover.envs.coq_library import (
    LIBRARY_IMPORT,
    LIBRARY_REQUIRES,
    compile_library,
    library_args,
)
from prover.envs.coq_project import LIBRARY_FILE, coqlib
from prover.envs.coq_trace import (
    MANIFEST_FILE,
    POLICY_IMPORTS,
    TRACE_FORMAT_VERSION,
    FileTrace,
    TraceConfig,
    resolve_files,
    split_of,
    trace,
    trace_file,
    write_splits,
)

from .conftest import SHARED_DATA

# Bool.v and CRelationClasses.v are loaded by `Require Import Lia` (so train, although the
# hash of CRelationClasses.v's path says test), Peano.v is the prelude, and Zerob.v is
# outside the closure with a path hashed to test: the held-out theorems.
CLOSURE_FILES = ("theories/Bool/Bool.v", "theories/Classes/CRelationClasses.v")
HELD_OUT_FILE = "theories/Bool/Zerob.v"


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, coq_installed: None) -> Path:
    out = tmp_path_factory.mktemp("trace")
    globs = ["Bool/Bool.v", "Init/Peano.v", "Bool/Zerob.v", "Classes/CRelationClasses.v"]
    trace(resolve_files(globs), out, TraceConfig(num_workers=2), log=lambda _: None)
    return out


def _parts_of_files(traced: Path, strategy: str) -> dict[str, set[str]]:
    files: dict[str, set[str]] = {}
    for part in ("train", "val", "test"):
        for rec in json.loads((traced / strategy / f"{part}.json").read_text()):
            files.setdefault(rec["file_path"], set()).add(part)
    return files


def test_import_closure_is_what_coq_loads(coq_installed: None) -> None:
    closure = import_closure(["From Coq Require Import Lia."])
    assert len(closure.libraries) == len(closure.files) == len(set(closure.files))
    where = dict(zip(closure.libraries, closure.files, strict=True))
    assert where["Coq.micromega.Lia"] == "theories/micromega/Lia.v"
    assert where["Coq.Arith.PeanoNat"] == "theories/Arith/PeanoNat.v"
    assert where["Coq.Init.Prelude"] == "theories/Init/Prelude.v"  # loaded by every session
    assert all((coqlib() / f).is_file() for f in closure.files)
    assert not any(name.startswith("Hammer.") for name in closure.libraries)
    hammer = import_closure(POLICY_IMPORTS)
    assert set(closure.libraries) < set(hammer.libraries)
    assert "user-contrib/Hammer/Plugin/Hammer.v" in hammer.files


def test_import_closure_names_the_import_coq_rejects(coq_installed: None) -> None:
    with pytest.raises(EnvError, match=r"rejects the import 'From NoSuch Require Import X\.'"):
        import_closure(["From Coq Require Import Lia.", "From NoSuch Require Import X."])


def test_the_library_import_loads_only_the_library_and_its_requires(tmp_path: Path) -> None:
    (tmp_path / LIBRARY_FILE).write_text("Ltac st_0123abcd x0 := apply x0.\n")
    assert compile_library(tmp_path) == ""
    loaded = import_closure([LIBRARY_IMPORT], coq_args=library_args(tmp_path)).libraries
    assert loaded == (*import_closure(LIBRARY_REQUIRES).libraries, "Springtail.SpringtailLib")


def test_layout_and_manifest(traced: Path) -> None:
    for strategy in ("random", "novel_files"):
        for part in ("train", "val", "test"):
            assert isinstance(json.loads((traced / strategy / f"{part}.json").read_text()), list)
    manifest = json.loads((traced / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == TRACE_FORMAT_VERSION == 2
    assert manifest["num_files"] == 4 and manifest["num_files_with_errors"] == 0
    assert manifest["num_theorems"] > 100 and manifest["num_steps"] >= manifest["num_theorems"]
    total = sum(manifest["splits"]["random"].values())
    assert total == sum(manifest["splits"]["novel_files"].values()) == manifest["num_theorems"]
    closure = manifest["held_out_closure"]
    assert closure["imports"] == [*POLICY_IMPORTS, *LIBRARY_REQUIRES]
    assert {"Coq.micromega.Lia", "Hammer.Plugin.Hammer"} <= set(closure["libraries"])
    assert set(CLOSURE_FILES) <= set(closure["files"]) and HELD_OUT_FILE not in closure["files"]
    assert closure["num_traced_files"] == 2 and closure["num_files_moved_to_train"] == 1
    assert check_trace(traced) == manifest


def test_closure_and_prelude_files_are_train_in_both_strategies(traced: Path) -> None:
    novel, random = _parts_of_files(traced, "novel_files"), _parts_of_files(traced, "random")
    assert all(len(parts) == 1 for parts in novel.values())
    for path in (*CLOSURE_FILES, "theories/Init/Peano.v"):
        assert novel[path] == random[path] == {"train"}, path
    assert novel[HELD_OUT_FILE] == {split_of(HELD_OUT_FILE)} == {"test"}
    assert split_of(CLOSURE_FILES[1]) == "test"  # held out, were it not in the closure


def test_write_splits_keeps_the_train_files_in_train(tmp_path: Path) -> None:
    rec = {"full_name": "Coq.Classes.CRelationClasses.complement_inverse", "traced_tactics": []}
    path = "theories/Classes/CRelationClasses.v"
    assert split_of(path) == split_of(rec["full_name"]) == "test"
    ft = FileTrace(path, "Coq.Classes.CRelationClasses", False, theorems=[rec])
    counts = write_splits([ft], tmp_path / "by_hash")
    assert counts["novel_files"]["test"] == counts["random"]["test"] == 1
    counts = write_splits([ft], tmp_path / "closure", train_files={path})
    assert counts["novel_files"]["train"] == counts["random"]["train"] == 1


def test_steps_are_consistent_and_replayable(traced: Path, coq_env) -> None:
    recs = json.loads((traced / "random" / "train.json").read_text())
    bool_recs = [r for r in recs if r["file_path"].endswith("Bool/Bool.v")][:3]
    assert bool_recs
    for rec in bool_recs:
        steps = rec["traced_tactics"]
        assert steps[-1]["state_after"] == "no goals"
        path = coqlib() / rec["file_path"]
        state = coq_env.open(file=path, theorem=rec["theorem"])
        assert state.text == steps[0]["state_before"]
        for step in steps:
            out = coq_env.step(state, step["tactic"])
            assert isinstance(out, Progress | Proved), (rec["full_name"], step, out)
            if isinstance(out, Progress):
                assert out.state.text == step["state_after"]
                state = out.state
        assert isinstance(out, Proved)


def test_replay_error_is_reported_not_hidden(tmp_path: Path, coq_installed: None) -> None:
    bad = tmp_path / "Bad.v"
    bad.write_text(
        "Lemma ok : True.\nProof. exact I. Qed.\nLemma broken : False.\nProof. exact I. Qed.\n"
    )
    ft = trace_file(bad)
    assert "line 4" in ft.error
    assert [t["theorem"] for t in ft.theorems] == ["ok"]


def test_loaders_read_trace_benchmark_and_shared_steps(traced: Path, tmp_path: Path) -> None:
    steps = load_steps(traced, "random/train")
    assert steps and all(s.tactic and s.state_before for s in steps)
    bench = tmp_path / "train.json"
    bench.write_text(
        json.dumps(
            [
                {
                    "full_name": "Nat.add_zero'",
                    "file_path": "Mathlib/X.lean",
                    "traced_tactics": [
                        {
                            "tactic": "simp",
                            "annotated_tactic": ["simp", []],
                            "state_before": "n : ℕ\n⊢ n + 0 = n",
                            "state_after": "no goals",
                        }
                    ],
                }
            ]
        )
    )
    assert load_steps(bench)[0].tactic == "simp"
    with pytest.raises(DataFormatError, match="name a split"):
        load_steps(traced)


def test_loader_reads_shared_lean_steps() -> None:
    shared = SHARED_DATA / "lean_states" / "steps.jsonl"
    if not shared.exists():
        pytest.skip(f"{shared} not present (../shared/data is beside the repo in CI)")
    lean_steps = load_steps(shared)
    assert len(lean_steps) == 308 and "⊢" in lean_steps[0].state_before


# --- traces of another format are refused, benchmark folders still load -------------------


def _copy_with_manifest(traced: Path, to: Path, **changes: object) -> Path:
    shutil.copytree(traced, to)
    manifest = json.loads((to / MANIFEST_FILE).read_text())
    manifest.update(changes)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    (to / MANIFEST_FILE).write_text(json.dumps(manifest))
    return to


def test_a_trace_of_an_older_format_is_refused_with_the_command_to_remake_it(
    traced: Path, tmp_path: Path, capsys
) -> None:
    from prover.cli import main
    from prover.introspect.corpus import from_trace

    old = _copy_with_manifest(traced, tmp_path / "old", format_version=None)  # format 1
    message = (
        f"{old} was made by an older springtail trace (format 1, this version needs 2): "
        f"re-run `springtail trace --backend coq --out {old}`"
    )
    for read in (
        lambda: split_theorems(old, "novel_files/test"),
        lambda: load_steps(old, "random/train"),
        lambda: load_steps(old / "random" / "train.json"),
        lambda: from_trace(old),
    ):
        with pytest.raises(DataFormatError) as refused:
            read()
        assert str(refused.value) == message
    assert main(["eval", "coq", "--data", str(old), "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"springtail eval: error: {message}\n"


def test_newer_and_manifestless_folders_are_not_read_as_traces(
    traced: Path, tmp_path: Path
) -> None:
    newer = _copy_with_manifest(traced, tmp_path / "newer", format_version=3)
    with pytest.raises(DataFormatError, match="newer springtail trace .format 3"):
        split_theorems(newer, "novel_files/test")
    bare = tmp_path / "bare"  # split files alone cannot say what their held-out splits hold
    shutil.copytree(traced / "novel_files", bare / "novel_files")
    with pytest.raises(DataFormatError, match="has no manifest.json, so it is not a springtail"):
        split_theorems(bare, "novel_files/test")
    with pytest.raises(DataFormatError, match="not found: trace first"):
        split_theorems(tmp_path / "missing", "novel_files/test")


def test_a_benchmark_folder_without_manifest_still_loads(traced: Path, tmp_path: Path) -> None:
    bench = tmp_path / "leandojo_benchmark_4"
    shutil.copytree(traced / "random", bench / "random")  # no manifest.json, as in LeanDojo's
    assert load_steps(bench, "random/train") == load_steps(traced, "random/train")
    assert load_steps(bench / "random" / "train.json")


# --- end to end: every held-out theorem is attempted with the policy's imports -------------


def test_held_out_theorems_are_searched_with_the_policy_imports(traced: Path) -> None:
    from prover.episodes import run_theorems
    from prover.policies.portfolio import PortfolioPolicy
    from prover.search import SearchConfig

    held_out = split_theorems(traced, "novel_files/test")
    assert {t.file for t in held_out} == {coqlib() / HELD_OUT_FILE} and len(held_out) == 4
    policy = PortfolioPolicy()
    assert set(policy.imports) <= set(POLICY_IMPORTS)
    budget = SearchConfig(time_limit_s=10, max_expansions=20)
    closure_thm = next(
        t
        for t in split_theorems(traced, "novel_files/train")
        if t.file == coqlib() / CLOSURE_FILES[1]
    )
    with get_env("coq", tactic_timeout=2.0) as env:
        for thm in held_out:  # every import a policy may use loads here, CoqHammer's too
            env.open(file=thm.file, theorem=thm.name, imports=POLICY_IMPORTS)
        results = list(run_theorems(env, policy, [*held_out, closure_thm], budget))
    assert [r.imports_dropped for r in results] == [False] * len(held_out) + [True]
    assert all(r.attempted for r in results)


# --- System 1 on the tiny trace: the index, knn and hybrid from the command line ------------


def test_held_out_human_proofs_are_never_in_the_index(traced: Path) -> None:
    from prover.policies.knn import load_index

    index = load_index(traced)
    pairs = lambda part: {  # noqa: E731
        (s.state_before, s.tactic) for s in load_steps(traced, f"novel_files/{part}")
    }
    indexed = set(index._seen)
    assert pairs("train") == indexed
    held_out = pairs("test") | pairs("val")
    assert held_out and not held_out & indexed
    with pytest.raises(ValueError, match="training split"):
        load_index(traced, "novel_files/test")


def test_the_policies_imports_are_in_the_held_out_closure() -> None:
    from prover.envs.coq_library import LIBRARY_IMPORT
    from prover.policies.hybrid import HybridPolicy
    from prover.policies.index import StateIndex
    from prover.policies.knn import KnnPolicy
    from prover.policies.portfolio import PortfolioPolicy

    hybrid = HybridPolicy(
        closers=PortfolioPolicy(), knn=KnnPolicy(StateIndex.build([])), hammer_timeout_s=10
    )
    requires = {i for i in hybrid.imports if "Require" in i} - {LIBRARY_IMPORT}
    assert requires <= set(POLICY_IMPORTS)
    assert [i for i in hybrid.imports if "Require" not in i] == ["Set Hammer ATPLimit 5."]


def test_eval_knn_hammer_and_hybrid_on_the_held_out_split(traced: Path, tmp_path: Path) -> None:
    from prover.cli import main

    rows = {}
    runs = (
        ("knn", []),
        ("hammer", ["--hammer-timeout", "4"]),
        ("hybrid", ["--hammer-timeout", "6"]),
    )
    for name, extra in runs:
        out = tmp_path / f"{name}.json"
        argv = ["eval", "coq", "--data", str(traced), "--policy", name, "--limit", "4"]
        assert main([*argv, "--timeout", "15", "--json", str(out), *extra]) == 0
        rows[name] = json.loads(out.read_text())
    for name, s in rows.items():
        assert s["attempted"] == 4 and s["imports_dropped"] == 0, name
        for r in s["results"]:
            assert not r["imports_dropped"]
            assert len(r["sources"]) == len(r["proof"])
    assert rows["hammer"]["policy_settings"]["hammer"] == {"timeout_s": 4.0, "atp_limit_s": 2}
    hybrid = rows["hybrid"]
    assert hybrid["proved"] >= 1
    assert hybrid["policy_settings"]["hammer"] == {"timeout_s": 6.0, "atp_limit_s": 3}
    proved_sources = {s for r in hybrid["results"] if r["proved"] for s in r["sources"]}
    assert proved_sources and proved_sources <= {"closer", "knn", "hammer"}
    assert sum(hybrid["proof_step_sources"].values()) == sum(
        len(r["proof"]) for r in hybrid["results"] if r["proved"]
    )


def test_prove_with_hybrid_on_any_file_names_the_trace(
    traced: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prover.cli import main

    path = tmp_path / "Mine.v"
    path.write_text("Lemma mine (b : bool) : negb (negb b) = b.\nProof. Admitted.\n")
    out = tmp_path / "r.json"
    argv = ["prove", "--file", str(path), "--theorem", "mine", "--policy", "hybrid"]
    assert main([*argv, "--trace", str(traced), "--timeout", "20", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["proved"] and len(result["sources"]) == len(result["proof"])
    # no trace: say how to make one, before any work
    missing = tmp_path / "no_trace"
    capsys.readouterr()
    assert main([*argv, "--trace", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "springtail trace --backend coq --out" in err and len(err.splitlines()) == 1
    # knn/hybrid options with another policy are bad input
    assert main(["prove", "--file", str(path), "--theorem", "mine", "--offline"]) == 2


def test_a_replay_store_never_hands_an_eval_its_own_answers(traced: Path, tmp_path: Path) -> None:
    """Proofs and outcomes an earlier run stored for the theorems now evaluated are left out
    of the index and the source statistics; the rest of the store is used."""
    import argparse

    from prover.cli import _system1_options
    from prover.replay import Outcome, ReplayStore

    held_out = split_theorems(traced, "novel_files/test")
    train = split_theorems(traced, "novel_files/train")[0]
    with ReplayStore(tmp_path / "r.sqlite") as store:
        for thm, state in ((held_out[0], "held-out state"), (train, "train state")):
            store.add_proof(
                theorem=thm.name,
                file=str(thm.file),
                tactics=["auto."],
                steps=[(state, "auto.")],
                axioms=[],
                time_s=1.0,
                model_version="v",
                round=0,
            )
            store.record_outcomes(
                [
                    Outcome(
                        thm.name,
                        str(thm.file),
                        state,
                        "auto.",
                        "proved",
                        None,
                        None,
                        1.0,
                        "v",
                        0,
                        "knn",
                    )
                ]
            )
        args = argparse.Namespace(policy="hybrid", offline=False)
        options = _system1_options(args, traced, "novel_files/train", store, held_out)
    assert [s.state_before for s in options["extra_steps"]] == ["train state"]
    assert options["source_rows"] == [("knn", "train state", True)]


def test_loop_hybrid_refuses_an_eval_split_of_another_strategy() -> None:
    from prover.loop import LoopConfig

    with pytest.raises(ValueError, match="same strategy"):
        LoopConfig(policy="hybrid", eval_split="random/val")
    with pytest.raises(ValueError, match="hybrid"):
        LoopConfig(policy="model", hammer_timeout=5.0)
    with pytest.raises(ValueError, match="seconds"):
        LoopConfig(policy="hybrid", hammer_timeout=float("nan"))
    assert LoopConfig(policy="hybrid", hammer_timeout=0.0).hammer_timeout == 0.0
