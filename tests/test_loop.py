"""Expert iteration: one loop round end to end on real Coq with a tiny model, and its resume.

Run: pytest tests/test_loop.py
"""

from __future__ import annotations

import dataclasses
import json

import pytest


def test_one_loop_round_end_to_end(trained, trace_dir, tmp_path, coq_installed) -> None:
    from prover.loop import LoopConfig, check_resume, run_loop
    from prover.replay import ReplayStore

    out, _ = trained
    cfg = LoopConfig(
        data=str(trace_dir),
        eval_split="novel_files/val",
        rounds=1,
        train_theorems=6,
        eval_theorems=2,
        time_limit_s=20,
        tactic_timeout=2,
        num_candidates=4,
        steps=10,
        train_overrides=("batch_size=8", "optim.warmup_steps=5"),
    )
    lines: list[str] = []
    rows = run_loop(cfg, tmp_path / "loop", model=out, log=lines.append)
    assert [r["round"] for r in rows] == [0, 1]
    r1 = rows[1]
    assert r1["attempted"] == 6 and 1 <= r1["proved"] <= 6
    assert r1["new_proofs"] == r1["proved"]  # the first round: every proof is new
    assert r1["eval_attempted"] == 2 and 0 <= r1["eval_pass_at_1"] <= 1
    assert r1["train_steps"] == 10
    saved = [json.loads(x) for x in (tmp_path / "loop" / "rounds.jsonl").read_text().splitlines()]
    assert saved == rows
    assert "| 1 |" in (tmp_path / "loop" / "rounds.md").read_text()
    with ReplayStore(tmp_path / "loop" / "replay.sqlite", readonly=True) as store:
        counts = store.counts()
        assert counts["proofs"] == r1["proved"]
        assert sum(counts[k] for k in ("progress", "proved", "failed", "timeout")) > 0
        assert store.to_dataset().num_rows == len(store.proof_steps()) > 0
        replay_steps = len(store.proof_steps())
    # the retrained model saw the replay proofs (the run's data card counts them)
    meta = json.loads((tmp_path / "loop" / "round_1" / "config.json").read_text())
    assert meta["data"]["replay_steps"] == cfg.replay_repeat * replay_steps
    # running it again resumes after its last finished round instead of starting over
    rows2 = run_loop(dataclasses.replace(cfg, rounds=1), tmp_path / "loop", log=lines.append)
    assert rows2 == rows
    # with other options it is refused before any work: the folder would mix two experiments
    kept = (tmp_path / "loop" / "rounds.jsonl").read_text()
    for other in (  # rounds=2: they would run a round if they were not refused
        dataclasses.replace(cfg, rounds=2, time_limit_s=5),
        dataclasses.replace(cfg, rounds=2, policy="hybrid"),
        dataclasses.replace(cfg, rounds=2, minif2f=str(tmp_path / "valid")),
    ):
        with pytest.raises(ValueError, match="started with other options") as refused:
            run_loop(other, tmp_path / "loop", log=lines.append)
        assert "give another --out" in str(refused.value)
    assert (tmp_path / "loop" / "rounds.jsonl").read_text() == kept
    with ReplayStore(tmp_path / "loop" / "replay.sqlite", readonly=True) as store:
        assert store.counts() == counts
    # more rounds, or other workers, go on with the same folder
    check_resume(dataclasses.replace(cfg, rounds=3, workers=2), tmp_path / "loop")


def test_retraining_keeps_the_users_optimiser_overrides(
    trained, trace_dir, tmp_path, monkeypatch, coq_installed
) -> None:
    import pytest

    import prover.loop
    from prover.loop import LoopConfig, run_loop

    class Stop(Exception):
        pass

    seen = []

    def fake_train(cfg, out, stop_at=None):  # noqa: ANN001, ANN202
        seen.append(cfg)
        raise Stop

    monkeypatch.setattr(prover.loop, "train", fake_train)
    out, _ = trained
    cfg = LoopConfig(
        data=str(trace_dir),
        eval_split="novel_files/val",
        rounds=1,
        train_theorems=1,
        eval_theorems=1,
        time_limit_s=5,
        train_overrides=("optim.lr=0.01", "optim.schedule=cosine"),
    )
    with pytest.raises(Stop):
        run_loop(cfg, tmp_path / "loop", model=out, log=lambda _: None)
    (round_1,) = seen  # round 0 evaluated the given model; round 1 retrains it
    assert (round_1.optim.lr, round_1.optim.schedule) == (0.01, "cosine")  # the user's
    assert round_1.optim.warmup_steps == 20  # the retraining default where the user said nothing
    assert round_1.init_from and round_1.replay


def test_loop_introspect_mines_a_library_each_round_and_searches_with_it(
    trained, trace_dir, tmp_path, coq_installed
) -> None:
    from prover.loop import LoopConfig, run_loop
    from prover.replay import ReplayStore

    out, _ = trained
    cfg = LoopConfig(
        data=str(trace_dir),
        eval_split="novel_files/val",
        rounds=2,
        train_theorems=4,
        eval_theorems=1,
        time_limit_s=5,
        tactic_timeout=2,
        num_candidates=4,
        steps=3,
        train_overrides=("batch_size=8", "optim.warmup_steps=1"),
        introspect=True,
        introspect_iterations=4,
        introspect_verify_limit=1,
        introspect_minimise=2,
    )
    rows = run_loop(cfg, tmp_path / "loop", model=out, log=lambda _: None)
    assert rows[0]["library"] is None and rows[0]["library_programs"] == 0
    names: dict[int, set[str]] = {}
    for r in (1, 2):
        folder = tmp_path / "loop" / f"round_{r}" / "library"
        assert rows[r]["library"] == str(folder)
        payload = json.loads((folder / "library.json").read_text())
        assert rows[r]["library_programs"] == sum(p["verified"] for p in payload["programs"])
        assert payload["corpus"]["proofs"] >= 6  # the replay store's proofs, then the trace's
        assert payload["minimisation"]["proofs"] == 2
        assert (folder / "SpringtailLib.v").is_file()
        names[r] = {p["name"] for p in payload["programs"]}
        verified = {p["name"] for p in payload["programs"] if p["verified"]}
        names[-r] = verified
    assert names[-1] <= names[2]  # round 1's programs stay candidates in round 2
    with ReplayStore(tmp_path / "loop" / "replay.sqlite", readonly=True) as store:
        versions = {
            r: v
            for r, v in store.conn.execute("SELECT DISTINCT round, model_version FROM outcomes")
        }
    assert not versions[1].endswith("+library")  # round 1 searched before any library
    assert versions[2].endswith("+library")  # round 2 offered round 1's programs
    assert "library programs" in (tmp_path / "loop" / "rounds.md").read_text()
    meta = json.loads((tmp_path / "loop" / "round_2" / "config.json").read_text())
    assert meta["config"]["library"] == rows[2]["library"]  # retrained calling its programs
    assert meta["data"]["library_programs"] == rows[2]["library_programs"]


def test_loop_refuses_a_hostile_starting_library_before_any_work(
    tmp_path, trace_dir, capsys, coq_installed
) -> None:
    from prover.cli import main

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "SpringtailLib.v").write_text("Ltac st_00000000 := admit.\n")
    (lib / "library.json").write_text('{"programs": []}')
    argv = ["loop", "--data", str(trace_dir), "--out", str(tmp_path / "loop"), "--library"]
    assert main([*argv, str(lib), "--eval-split", "novel_files/val"]) == 2
    assert "uses 'admit', never allowed" in capsys.readouterr().err
    assert not (tmp_path / "loop").exists()


def test_introspection_tuning_without_introspect_is_bad_input(tmp_path, capsys) -> None:
    from prover.cli import main

    argv = ["loop", "--out", str(tmp_path / "loop"), "--introspect-iterations", "3"]
    assert main(argv) == 2
    assert "--introspect-iterations tunes --introspect" in capsys.readouterr().err
    assert not (tmp_path / "loop").exists()


def test_resume_check_of_the_loop_options(tmp_path, monkeypatch) -> None:
    """`check_resume` without running a loop: a folder is checked only once it has rounds;
    paths compare resolved; an option the folder predates counts as its default; an
    unreadable options file is refused."""
    from prover.loop import OPTIONS_FILE, LoopConfig, check_resume, loop_options

    out = tmp_path / "loop"
    out.mkdir()
    cfg = LoopConfig(data=str(tmp_path / "trace"), train_theorems=6)
    (out / OPTIONS_FILE).write_text(json.dumps(loop_options(cfg)))
    other = dataclasses.replace(cfg, train_theorems=7)
    check_resume(other, out)  # no finished round yet: a new start may change its mind
    (out / "rounds.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="train_theorems: 6 then, 7 now"):
        check_resume(other, out)
    monkeypatch.chdir(tmp_path)
    check_resume(dataclasses.replace(cfg, data="trace"), out)  # the same folder, relative
    # a folder started before `introspect_minimise` existed: its default is what it ran with
    older = {k: v for k, v in loop_options(cfg).items() if k != "introspect_minimise"}
    (out / OPTIONS_FILE).write_text(json.dumps(older))
    check_resume(cfg, out)
    with pytest.raises(ValueError, match="introspect_minimise"):
        check_resume(dataclasses.replace(cfg, introspect=True, introspect_minimise=2), out)
    (out / OPTIONS_FILE).write_text('{"data": ')
    with pytest.raises(ValueError, match="unreadable"):
        check_resume(cfg, out)
