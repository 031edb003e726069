"""`make demo` (eval/demo.py) refuses to delete a run folder it did not make.

Run: pytest tests/test_demo.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import demo


def test_a_users_folder_is_refused_untouched_before_any_work(tmp_path, monkeypatch, capsys):
    def no_work(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the demo started work")

    monkeypatch.setattr(demo, "trace", no_work)
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "thesis.tex").write_text("months of work")
    with pytest.raises(SystemExit) as exit_:
        demo.main(["--run", str(mine), "--out", str(tmp_path / "trace")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "not made by the demo" in err and len(err.strip().splitlines()) == 1
    assert (mine / "thesis.tex").read_text() == "months of work"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(SystemExit):
        demo.main(["--run", str(a_file)])
    assert a_file.read_text() == "x"


def test_the_demos_own_folder_is_replaced_and_an_empty_one_used(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "demo"
    assert demo.fresh_run_dir(run) is None and (run / demo.MARK).is_file()
    (run / "rounds.jsonl").write_text("{}\n")  # left by the previous demo
    assert demo.fresh_run_dir(run) is None
    assert sorted(p.name for p in run.iterdir()) == [demo.MARK]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo.fresh_run_dir(empty) is None and (empty / demo.MARK).is_file()
    # a run made before the mark existed is known by its layout, and replaced
    old = tmp_path / "old_demo"
    (old / "round_0" / "model").mkdir(parents=True)
    (old / "rounds.jsonl").write_text("{}\n")
    (old / "replay.sqlite").write_text("")
    assert demo.fresh_run_dir(old) is None and sorted(p.name for p in old.iterdir()) == [demo.MARK]
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "rounds.jsonl").write_text("{}\n")
    (tmp_path / "mixed" / "paper.pdf").write_text("%PDF")
    assert "not made by the demo" in (demo.fresh_run_dir(tmp_path / "mixed") or "")
    assert (tmp_path / "mixed" / "paper.pdf").is_file()
