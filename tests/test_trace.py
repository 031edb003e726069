"""Tracing Coq files into LeanDojo-layout splits, and the loaders that read them back.

Run: pytest tests/test_trace.py   (needs Coq)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.data import DataFormatError, load_steps
from prover.envs import Progress, Proved
from prover.envs.coq_project import coqlib
from prover.envs.coq_trace import TraceConfig, resolve_files, split_of, trace, trace_file

from .conftest import SHARED_DATA


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, coq_installed: None) -> Path:
    out = tmp_path_factory.mktemp("trace")
    files = resolve_files(["Bool/Bool.v", "Init/Peano.v", "Arith/Between.v"])
    trace(files, out, TraceConfig(num_workers=2), log=lambda _: None)
    return out


def test_layout_and_manifest(traced: Path) -> None:
    for strategy in ("random", "novel_files"):
        for part in ("train", "val", "test"):
            assert isinstance(json.loads((traced / strategy / f"{part}.json").read_text()), list)
    manifest = json.loads((traced / "manifest.json").read_text())
    assert manifest["num_files"] == 3 and manifest["num_files_with_errors"] == 0
    assert manifest["num_theorems"] > 100 and manifest["num_steps"] >= manifest["num_theorems"]
    total = sum(manifest["splits"]["random"].values())
    assert total == sum(manifest["splits"]["novel_files"].values()) == manifest["num_theorems"]


def test_novel_files_keep_whole_files_out_of_train_and_prelude_in_train(traced: Path) -> None:
    files = {}
    for part in ("train", "val", "test"):
        for rec in json.loads((traced / "novel_files" / f"{part}.json").read_text()):
            files.setdefault(rec["file_path"], set()).add(part)
    assert all(len(parts) == 1 for parts in files.values())
    assert files["theories/Init/Peano.v"] == {"train"}
    for path, parts in files.items():
        if "Init/" not in path:
            assert parts == {split_of(path)}


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
