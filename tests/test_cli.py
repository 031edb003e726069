"""The `springtail` command line: exit codes (0 ok, 1 not proved/rejected, 2 bad input), JSON
outputs, and that a printed proof pastes back into the file and compiles.

Run: pytest tests/test_cli.py   (needs Coq)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.cli import main

from .test_coq_env import CHEATS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_doctor_reports_backends(capsys, coq_installed: None) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert out.splitlines()[0].startswith("ok") and "coq" in out and "lean" in out


def test_check_user_file_and_cheats(capsys, user_file: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", str(user_file))
    assert code == 0 and "PROVED add_comm'" in out and "REJECTED" not in out
    cheats = tmp_path / "Cheats.v"
    cheats.write_text(
        CHEATS.replace(
            "Lemma t_ax : forall P : Prop, P \\/ ~ P.\nProof. Admitted.",
            "Lemma t_ax : forall P : Prop, P \\/ ~ P.\nProof. exact ax. Qed.",
        )
    )
    code, out, _ = run(capsys, "check", str(cheats), "--json")
    rows = {r["theorem"]: r for r in json.loads(out)}
    assert code == 1
    assert not rows["adm"]["proved"] and not rows["t_guard"]["proved"]
    assert not rows["t_ax"]["proved"] and "ax" in rows["t_ax"]["reason"]
    code, out, _ = run(capsys, "check", str(cheats), "--json", "--allow-axiom", "ax")
    assert json.loads(out)[[r["theorem"] for r in json.loads(out)].index("t_ax")]["proved"]


def test_prove_prints_a_proof_that_pastes_back(capsys, user_file: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "r.json"
    code, out, _ = run(
        capsys,
        "prove",
        "--backend",
        "coq",
        "--file",
        str(user_file),
        "--theorem",
        "and_true",
        "--timeout",
        "30",
        "--json",
        str(out_json),
    )
    assert code == 0 and out.startswith("PROVED and_true")
    result = json.loads(out_json.read_text())
    assert set(result) >= {"theorem", "proved", "proof", "time_s", "axioms"}
    assert result["proved"] is True and result["axioms"] == []
    pasted = user_file.read_text().replace(
        "Lemma and_true : A -> A /\\ True.\nProof. auto. Qed.",
        "Lemma and_true : A -> A /\\ True.\nProof.\n" + "\n".join(result["proof"]) + "\nQed.",
    )
    assert pasted != user_file.read_text()
    target = tmp_path / "Pasted.v"
    target.write_text(pasted)
    assert subprocess.run(["coqc", "-q", str(target)], cwd=tmp_path).returncode == 0


def test_prove_failure_exits_1(capsys, tmp_path: Path, coq_installed: None) -> None:
    f = tmp_path / "False.v"
    f.write_text("Lemma one_two : 1 = 2.\nProof. Admitted.\n")
    out_json = tmp_path / "r.json"
    code, out, _ = run(
        capsys,
        "prove",
        "--file",
        str(f),
        "--theorem",
        "one_two",
        "--timeout",
        "20",
        "--json",
        str(out_json),
    )
    assert code == 1 and "NOT PROVED one_two" in out
    assert json.loads(out_json.read_text())["proved"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["prove", "--file", "/nonexistent/X.v", "--theorem", "x"],
        ["prove", "--file", "{user_file}", "--theorem", "add_comm"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--timeout", "-3"],
        ["check", "/nonexistent/X.v"],
        ["trace", "--out", "{tmp}/t", "--files", "NoSuchDir/*.v"],
        ["eval", "coq", "--data", "{tmp}/missing"],
        ["frobnicate"],
        ["prove", "--backend", "lean", "--file", "{user_file}", "--theorem", "and_true"],
        ["prove", "--policy", "model", "--file", "{user_file}", "--theorem", "and_true"],
        ["prove", "--model", "{tmp}", "--file", "{user_file}", "--theorem", "and_true"],
        ["train", "--preset", "huge", "--out", "{tmp}/r"],
        ["train", "--data", "{tmp}/missing", "--out", "{tmp}/r"],
        ["train", "--data", "{tmp}/missing", "--out", "{tmp}/r", "model.nope=1"],
        ["eval", "coq", "--policy", "model"],
        ["eval", "coq", "--policy", "model", "--model", "{tmp}/no_model"],
        ["eval", "coq", "--limit", "0"],
        ["eval", "minif2f", "--split", "novel_files/test"],
        ["loop", "--rounds", "0", "--out", "{tmp}/l"],
        ["loop", "--data", "{tmp}/missing", "--out", "{tmp}/l"],
        ["loop", "--backend", "lean", "--out", "{tmp}/l"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--json", "{tmp}"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--json", "{user_file}/r.json"],
        ["eval", "coq", "--json", "{tmp}"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--tactic-timeout", "inf"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--timeout", "nan"],
        ["check", "{user_file}", "--allow-axiom", ""],
        ["check", "{user_file}", "--allow-axiom", 'ax. Cd "/tmp"'],
        ["check", "{tmp}/loop.v"],
        ["prove", "--file", "{tmp}/loop.v", "--theorem", "x"],
        ["prove", "--file", "{user_file}", "--theorem", "and_true", "--json", "{tmp}/loop.v"],
    ],
)
def test_bad_input_exits_2_without_traceback(capsys, argv, user_file: Path, tmp_path: Path) -> None:
    (tmp_path / "loop.v").symlink_to(tmp_path / "loop.v")  # a symlink loop
    argv = [a.format(user_file=user_file, tmp=tmp_path) for a in argv]
    t0 = time.monotonic()
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - t0 < 30  # refused before any search


def test_console_script_is_installed_and_clean_on_error() -> None:
    exe = Path(sys.executable).parent / "springtail"
    p = subprocess.run(
        [str(exe), "prove", "--file", "/nope.v", "--theorem", "x"], capture_output=True, text=True
    )
    assert p.returncode == 2 and "no such file" in p.stderr and "Traceback" not in p.stderr


def test_trace_command_writes_splits(capsys, tmp_path: Path, coq_installed: None) -> None:
    code, out, _ = run(
        capsys,
        "trace",
        "--backend",
        "coq",
        "--out",
        str(tmp_path / "t"),
        "--files",
        "Bool/Sumbool.v",
        "--workers",
        "1",
    )
    assert code == 0 and "traced" in out
    assert (tmp_path / "t" / "novel_files" / "test.json").exists()


def test_eval_writes_the_documented_json(capsys, tmp_path: Path, coq_installed: None) -> None:
    data = tmp_path / "t"
    assert run(capsys, "trace", "--out", str(data), "--files", "Bool/Zerob.v")[0] == 0
    out_json = tmp_path / "eval.json"
    code, out, _ = run(
        capsys,
        "eval",
        "coq",
        "--data",
        str(data),
        "--split",
        "random/train",
        "--limit",
        "3",
        "--timeout",
        "10",
        "--json",
        str(out_json),
    )
    assert code == 0 and "| portfolio | random/train |" in out
    summary = json.loads(out_json.read_text())
    assert set(summary) >= {
        "split",
        "attempted",
        "proved",
        "discarded",
        "pass_at_1",
        "budget",
        "results",
    }
    assert summary["attempted"] + summary["discarded"] == 3 == len(summary["results"])
    assert summary["pass_at_1"] == summary["proved"] / summary["attempted"]
    assert set(summary["results"][0]) >= {"theorem", "proved", "proof", "time_s"}


# A.t admitted and a clean B.t (the soundness case), then an aborted goal.
AMBIGUOUS = (
    Path(__file__).parent / "soundness" / "attacks" / "same_short_name_in_modules.v"
).read_text() + "Theorem x : 1 = 2.\nAbort.\n"


def test_names_are_kernel_names_and_ambiguous_ones_are_refused(
    capsys, tmp_path: Path, coq_installed: None
) -> None:
    f = tmp_path / "Amb.v"
    f.write_text(AMBIGUOUS)
    code, out, _ = run(capsys, "check", str(f))
    assert code == 1 and "REJECTED A.t" in out and "PROVED B.t" in out
    assert not re.search(r"^(PROVED|REJECTED) x\b", out, re.M)  # an aborted goal: neither
    code, out, err = run(capsys, "prove", "--file", str(f), "--theorem", "t")
    assert code == 2 and "ambiguous" in err and "A.t" in err and "B.t" in err
    code, out, _ = run(capsys, "prove", "--file", str(f), "--theorem", "Amb.B.t", "--timeout", "20")
    assert code == 0 and "PROVED" in out


def test_only_aborted_goals_left_is_success(capsys, tmp_path: Path, coq_installed: None) -> None:
    f = tmp_path / "Ab.v"
    f.write_text("Theorem x : 1 = 2.\nAbort.\nTheorem y : True.\nProof. exact I. Qed.\n")
    code, out, _ = run(capsys, "check", str(f))
    assert code == 0 and out.split() == ["PROVED", "y"]


def test_coqc_error_points_into_the_users_file(capsys, tmp_path: Path, coq_installed: None) -> None:
    f = tmp_path / "Err.v"
    f.write_text("Theorem y : True.\nProof. exact I. Qed.\nCheck nope.\n")
    code, out, _ = run(capsys, "check", str(f))
    assert code == 1 and f"({f} line 3)" in out and "nope" in out


def _lf_project(tmp_path: Path) -> Path:
    root = tmp_path / "lf"
    root.mkdir()
    (root / "_CoqProject").write_text("-Q . LF\nBasics.v\nLists.v\n")
    (root / "Basics.v").write_text("Definition x := 1.\nLemma adm : 1 = 2.\nProof. Admitted.\n")
    (root / "Lists.v").write_text(
        "From LF Require Import Basics.\nTheorem t : x = 1.\nProof. reflexivity. Qed.\n"
        "Theorem u : 1 = 2.\nProof. exact adm. Qed.\n"
    )
    return root


def test_dependencies_not_built_exit_2_with_what_to_do(
    capsys, tmp_path: Path, coq_installed: None
) -> None:
    root = _lf_project(tmp_path)
    code, _, err = run(capsys, "check", str(root / "Lists.v"))
    assert code == 2 and "LF.Basics" in err and "build the dependencies first" in err
    code, _, err = run(capsys, "prove", "--file", str(root / "Lists.v"), "--theorem", "t")
    assert code == 2 and "build the dependencies first" in err
    subprocess.run(["coqc", "-Q", ".", "LF", "Basics.v"], cwd=root, check=True)
    before = sorted(p.name for p in root.iterdir())
    code, out, _ = run(capsys, "check", str(root / "Lists.v"), "--allow-axiom", "LF.Basics.adm")
    assert code == 1 and "PROVED t" in out
    assert "REJECTED u: uses axiom(s) LF.Basics.adm: LF.Basics.adm is an admitted lemma" in out
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written there


def test_cli_prove_and_eval_with_the_model(trained, trace_dir, tmp_path, capsys) -> None:
    from prover.cli import main

    out, _ = trained
    lemmas = str(trace_dir / "Lemmas.v")
    argv = ["prove", "--file", lemmas, "--theorem", "t_two", "--policy", "model", "--model"]
    assert main([*argv, str(out), "--timeout", "30"]) == 0
    printed = capsys.readouterr().out
    assert "PROVED t_two" in printed and "\nProof.\n" in printed and printed.endswith("Qed.\n")
    report = tmp_path / "eval.json"
    argv = ["eval", "coq", "--data", str(trace_dir), "--split", "novel_files/val"]
    argv += ["--policy", "model", "--model", str(out / "model"), "--expand-batch", "2"]
    assert main([*argv, "--timeout", "20", "--json", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["policy"] == "model" and summary["attempted"] == 2
    assert summary["search"]["tactic_calls"] >= 2 and summary["search"]["calls_per_s"] > 0
    shares = summary["search"]["share"]
    assert abs(sum(shares.values()) - 1) < 1e-3 and shares["policy"] > 0


def test_debug_search_checks_the_tree_and_loop_offers_only_what_works(
    capsys, user_file: Path, monkeypatch
) -> None:
    # the search runs in a Ray worker: what reaches it is the SearchConfig the pool is given
    # (tests/test_search.py checks what `debug` does there)
    import prover.cli

    configs = []
    real = prover.cli.run_parallel

    def spy(make_env, policy, theorems, search, *args, **kwargs):  # noqa: ANN001, ANN202
        configs.append(search)
        return real(make_env, policy, theorems, search, *args, **kwargs)

    monkeypatch.setattr(prover.cli, "run_parallel", spy)
    argv = ["prove", "--file", str(user_file), "--theorem", "and_true", "--timeout", "30"]
    assert main(argv) == 0 and main([*argv, "--debug-search"]) == 0
    assert [c.debug for c in configs] == [False, True]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["loop", "--help"])
    usage = capsys.readouterr().out
    assert "{coq}" in usage and "lean" not in usage.split("--backend")[1].split("\n")[0]
