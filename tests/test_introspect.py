"""Introspection: the tactic parser, the proof corpus, Stitch mining, the library's checks (on
hostile libraries too), verification with real Coq, determinism, and the CLI.

Run: pytest tests/test_introspect.py
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from prover.envs import get_env
from prover.envs.coq_library import LIBRARY_IMPORT, library_args, library_problems
from prover.envs.coq_ltac import (
    Alts,
    Atom,
    Branch,
    LtacParseError,
    Seq,
    Wrap,
    canonicalise,
    local_names,
    parse_tactic,
    print_tactic,
    tokenize,
)
from prover.envs.coq_project import LIBRARY_FILE
from prover.introspect.corpus import Corpus, from_trace
from prover.introspect.library import BuildConfig, build_library
from prover.introspect.sexpr import from_sexp, parse, show, to_sexp

from .conftest import mark_as_trace

SENTENCES = [
    "intros x y l; induction l; [ simpl; auto | simpl; destruct 1 as [H1| ]; [ left; rewrite H1; "
    "trivial | right; auto ] ].",
    "intro l; induction l as [|? l IHl];simpl; auto.",
    "intros (p,->).",
    "now rewrite app_length, IHl, Nat.add_comm.",
    "try (split; auto).",
    "first [ lia | auto ].",
    "destruct x as [?x|]; auto.",
    'idtac "a (* not a comment *) ] string".',
    "rewrite <- (Nat.add_0_r n) at 1.",
    "do 2 intro.",
    "unfold not; intros H%Nat.eqb_eq.",
    "split; [left || right | auto].",
]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_printing_a_parsed_tactic_gives_back_its_tokens(sentence: str) -> None:
    tree = parse_tactic(sentence)
    printed = print_tactic(tree)
    assert [t.text for t in tokenize(printed)] == [t.text for t in tokenize(sentence[:-1])]
    assert print_tactic(parse_tactic(printed)) == printed  # a fixed point
    assert print_tactic(from_sexp(parse(show(to_sexp(tree))))) == printed  # via Stitch syntax


def test_the_tree_has_the_structure_ltac_gives_it() -> None:
    tree = parse_tactic("try (a; b); [c | ]; first [d | e].")
    assert isinstance(tree, Seq) and isinstance(tree.rest, Alts) and tree.rest.word == "first"
    branch = tree.first
    assert isinstance(branch, Branch) and len(branch.alts) == 2
    assert branch.alts[1] == Atom((tokenize("idtac")[0],))  # an empty alternative
    assert isinstance(branch.first, Wrap) and isinstance(branch.first.body, Seq)
    # intro patterns are arguments, not branches
    assert isinstance(parse_tactic("destruct x as [a | b]."), Atom)
    # `now` takes the rest of the sequence, as Coq reads it; `||` is one token
    assert (
        print_tactic(parse_tactic("intros; now rewrite H; auto."))
        == "intros; now (rewrite H; auto)"
    )
    branch = parse_tactic("split; [left || right | auto].")
    assert isinstance(branch, Branch) and len(branch.alts) == 2


@pytest.mark.parametrize(
    "sentence",
    [
        "- auto.",
        "2: lia.",
        "all: auto.",
        "apply (f x.",
        "intros; ; auto.",
        "{",
        "first [match goal with |- _ => auto end | idtac].",
    ],
)
def test_what_is_not_one_tactic_is_refused(sentence: str) -> None:
    with pytest.raises(LtacParseError):
        parse_tactic(sentence)


def test_local_names_are_canonical_by_first_appearance() -> None:
    state = "n, m : nat\nIHn : n + 0 = n\n============================\nS n + 0 = S n"
    assert local_names(state) == {"n", "m", "IHn"}
    a, _ = canonicalise([parse_tactic("intros n m; rewrite IHn.")], {"n", "m", "IHn"})
    b, names = canonicalise([parse_tactic("intros a b; rewrite IHa.")], {"a", "b", "IHa"})
    assert a == b and names == {"h0": "a", "h1": "b", "h2": "IHa"}
    # a literal h0 in the proof is renamed too, so it never meets a canonical name
    from prover.envs.coq_ltac import rename_tokens

    trees, names = canonicalise([parse_tactic("intros h0; exact (h0, n).")], {"n"})
    assert print_tactic(rename_tokens(trees[0], names)) == "intros h0; exact (h0, n)"


def test_corpus_skips_and_counts_what_it_cannot_read() -> None:
    corpus = Corpus()
    s0, s1 = "x : nat\n============================\nx = x", "no goals"
    corpus.add("ok", "M.ok", Path("M.v"), [(s0, "reflexivity.", s1)])
    corpus.add("sel", "M.sel", Path("M.v"), [(s0, "1: reflexivity.", s1)])
    corpus.add("gap", "M.gap", Path("M.v"), [(s0, "idtac.", s0), ("other", "auto.", s1)])
    assert [p.theorem for p in corpus.proofs] == ["ok"]
    assert sum(corpus.skipped.values()) == 2


def test_a_program_takes_the_proofs_own_names_as_arguments() -> None:
    from prover.introspect.mine import _program, find_uses

    corpus = Corpus()
    for hyp in ("H", "Heq"):
        before = f"a, b : nat\n{hyp} : a = b\n============================\nb = a"
        corpus.add("t", f"M.t_{hyp}", Path("M.v"), [(before, f"rewrite {hyp}; reflexivity.", None)])
    pattern = ["seq", ["atom1/s:rewrite", "#0"], "atom0/s:reflexivity"]
    program = _program(pattern, 1.0, max_arity=3)
    assert not program.refused and program.params == ("x0",)
    assert program.definition() == f"Ltac {program.name} x0 := rewrite x0; reflexivity."
    uses = find_uses(program, corpus)
    assert [(u.args, u.rewritten) for u in uses] == [
        (("H",), f"{program.name} H."),
        (("Heq",), f"{program.name} Heq."),
    ]
    # a local name left in a body becomes a parameter too; a tactic hole is passed quoted
    local = _program(["seq", "#0", ["atom1/s:rewrite", "s:h0"]], 1.0, max_arity=3)
    assert local.params == ("x0", "x1") and local.param_kinds == ("tactic", "name")
    assert local.body == "x0; rewrite x1"
    too_many = _program(
        ["seq", ["atom4/s:intros", "s:h0", "s:h1", "s:h2", "s:h3"], "atom0/s:auto"],
        1.0,
        max_arity=3,
    )
    assert too_many.refused == "4 parameters once its local names are (at most 3)"
    captured = _program(["atom2/s:apply", "s:x0", "#0"], 1.0, max_arity=3)
    assert "x0, x1, ... itself" in captured.refused
    # a tactic hole binds a bare tactic, passed quoted; a qualified name fills an argument
    corpus.add("u", "M.u", Path("M.v"), [("n : nat\n====\nn = n", "simpl; rewrite H.", None)])
    corpus.add("v", "M.v", Path("M.v"), [("", "rewrite Nat.add_comm; reflexivity.", None)])
    tactic = _program(["seq", "#0", ["atom1/s:rewrite", "#1"]], 1.0, max_arity=3)
    assert [u.args for u in find_uses(tactic, corpus)][-1] == ("ltac:(simpl)", "H")
    assert find_uses(program, corpus)[-1].args == ("Nat.add_comm",)


def test_held_out_splits_are_never_mined(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training proofs only"):
        from_trace(tmp_path, "novel_files/test")


# --- building a library on real Coq --------------------------------------------------------

LEMMAS = "\n".join(
    f"Lemma l{k} : forall n : nat, n + {k} = {k} + n.\n"
    f"Proof. intros n; induction n as [|n IHn]; simpl; auto. Qed.\n"
    f"Lemma m{k} : forall {'c ' * (k % 2)}a b : nat, a = b -> b + {k} = a + {k}.\n"
    f"Proof. intros {'c ' * (k % 2)}a b H. rewrite H; reflexivity. Qed.\n"
    for k in range(4)
)


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prover.envs.coq_trace import trace_file

    root = tmp_path_factory.mktemp("introspect")
    src = root / "Small.v"
    src.write_text("Require Import Arith.\n" + LEMMAS)
    ft = trace_file(src)
    assert not ft.error and len(ft.theorems) == 8
    (root / "novel_files").mkdir()
    (root / "novel_files" / "train.json").write_text(json.dumps(ft.theorems))
    mark_as_trace(root)
    return root


@pytest.fixture(scope="module")
def built(small_trace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lib") / "lib"
    corpus = from_trace(small_trace)
    return out, build_library(corpus, out, BuildConfig(iterations=8), log=lambda _: None)


def test_a_built_library_holds_verified_programs_with_their_evidence(built) -> None:
    out, payload = built
    verified = [p for p in payload["programs"] if p["verified"]]
    assert verified, payload["programs"]
    for p in verified:
        assert p["mined_from"] and set(p["verified_with"]) <= set(p["mined_from"])
        assert p["verified_with"] == p["mined_from"]  # no limit: every source proof re-checked
        assert p["body"] and p["arity"] == len(p["params"]) <= 3
    text = (out / LIBRARY_FILE).read_text()
    assert library_problems(text) == [] and (out / "SpringtailLib.vo").is_file()
    assert text.count("Ltac ") == len(verified)
    assert "| program |" in (out / "report.md").read_text()


def test_a_proof_calling_the_library_compiles_with_coqc(small_trace, built, tmp_path) -> None:
    out, payload = built
    program = next(p for p in payload["programs"] if p["verified"])
    example = program["examples"][0]
    proof = next(p for p in from_trace(small_trace).proofs if p.full_name == example["theorem"])
    script = list(proof.sentences)
    assert script[example["sentence"]] == example["before"]
    script[example["sentence"]] = example["after"]
    assert program["name"] in example["after"]
    lemma = next(b for b in LEMMAS.split("Lemma ")[1:] if b.startswith(proof.theorem + " "))
    statement = "Lemma " + lemma.split("Proof.")[0]
    src = tmp_path / "Use.v"
    src.write_text(f"Require Import Arith.\n{LIBRARY_IMPORT}\n{statement}Proof.\n")
    with src.open("a") as fh:
        fh.write("\n".join(script) + "\nQed.\n")
    run = subprocess.run(["coqc", *library_args(out), str(src)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_same_corpus_gives_a_byte_identical_library(small_trace, built, tmp_path) -> None:
    out, _ = built
    again = tmp_path / "again"
    build_library(from_trace(small_trace), again, BuildConfig(iterations=8), log=lambda _: None)
    assert (again / LIBRARY_FILE).read_bytes() == (out / LIBRARY_FILE).read_bytes()
    first = json.loads((out / "library.json").read_text())
    second = json.loads((again / "library.json").read_text())
    for payload in (first, second):
        payload.pop("mining_s"), payload.pop("verification_s")
    assert first == second


def test_a_mined_body_the_library_check_refuses_is_dropped_not_fatal(tmp_path, monkeypatch):
    import prover.introspect.library as library
    from prover.introspect.mine import _program, find_uses

    corpus = Corpus()
    corpus.add("t", "M.t", Path("M.v"), [("", "exact (Set, nat).", None)])
    program = _program(["atom5/s:exact", "s:(", "n:Set", "n:,", "s:nat", "n:)"], 1.0, 3)
    program.uses = find_uses(program, corpus)
    monkeypatch.setattr(library, "mine", lambda *a, **k: [program])
    payload = build_library(corpus, tmp_path / "lib", log=lambda _: None)
    assert payload["programs"][0]["reason"].startswith("its text fails the library check")
    assert (tmp_path / "lib" / LIBRARY_FILE).read_text() == ""


def test_the_library_does_not_depend_on_the_hash_seed(small_trace, built, tmp_path) -> None:
    import os
    import sys

    out, _ = built
    code = (
        "import sys; from pathlib import Path\n"
        "from prover.introspect.corpus import from_trace\n"
        "from prover.introspect.library import BuildConfig, build_library\n"
        "build_library(from_trace(Path(sys.argv[1])), Path(sys.argv[2]), BuildConfig("
        "iterations=8), log=lambda _: None)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-c", code, str(small_trace), str(other)], env=env, check=True)
    assert (other / LIBRARY_FILE).read_bytes() == (out / LIBRARY_FILE).read_bytes()


def test_cli_introspect_and_library_show(small_trace, tmp_path, capsys) -> None:
    from prover.cli import main

    lib = tmp_path / "lib"
    argv = ["introspect", "--trace", str(small_trace), "--out", str(lib), "--iterations", "8"]
    assert main(argv) == 0
    assert "verified programs" in capsys.readouterr().out
    assert main(["library", "show", str(lib)]) == 0
    shown = capsys.readouterr().out
    assert "tactic definitions only" in shown and "| st_" in shown
    (lib / LIBRARY_FILE).write_text((lib / LIBRARY_FILE).read_text() + "Axiom cheat : False.\n")
    assert main(["library", "show", str(lib)]) == 1
    assert "not an `Ltac" in capsys.readouterr().out
    assert main(["prove", "--file", "x.v", "--theorem", "t", "--library", str(lib)]) == 2
    assert "not a library Springtail accepts" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["introspect", "--trace", "{tmp}/missing", "--out", "{tmp}/lib"],
        ["introspect", "--trace", "{tmp}", "--split", "novel_files/test", "--out", "{tmp}/lib"],
        ["introspect", "--trace", "{tmp}", "--out", "{tmp}/lib", "--max-arity", "0"],
        ["library", "show", "{tmp}/nothing"],
        ["introspect", "--trace", "{tmp}", "--out", "{tmp}/a_file"],
        ["introspect", "--trace", "{tmp}", "--out", "{tmp}/lib", "--max-arity", "10"],
    ],
)
def test_bad_introspection_input_exits_2(argv, tmp_path, capsys) -> None:
    from prover.cli import main

    (tmp_path / "a_file").write_text("not a folder")
    try:
        code = main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_prove_with_a_library_uses_its_programs_and_the_proof_compiles(
    built, tmp_path, coq_installed
) -> None:
    from prover.data import Theorem
    from prover.episodes import prove_theorem
    from prover.policies import TacticPolicy
    from prover.policies.library import LibraryPolicy
    from prover.search import SearchConfig

    class Nothing(TacticPolicy):
        name = version = "nothing"
        imports = ()

        def propose(self, state):  # noqa: ANN001, ANN202
            return []

    out, payload = built
    src = tmp_path / "New.v"
    src.write_text(
        "Require Import Arith.\nLemma fresh : forall n : nat, n + 7 = 7 + n.\nProof.\nAdmitted.\n"
    )
    policy = LibraryPolicy(Nothing(), out)
    with get_env("coq", tactic_timeout=5.0, library=str(out)) as env:
        result = prove_theorem(env, policy, Theorem(src, "fresh"), SearchConfig(time_limit_s=60))
    assert result.proved, result
    assert result.proof[0].startswith("st_") and LIBRARY_IMPORT in result.imports
    # what `prove` prints, pasted back with its imports, compiles with coqc and the library
    body = "\n".join(result.proof)
    text = src.read_text().replace("Proof.\nAdmitted.", f"Proof.\n{body}\nQed.")
    src.write_text(text.replace("Lemma", f"{LIBRARY_IMPORT}\nLemma", 1))
    run = subprocess.run(["coqc", *library_args(out), str(src)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_library_folder_given_relative_to_the_working_directory(built, tmp_path, monkeypatch):
    import shutil

    from prover.envs.coq_library import compile_library

    out, _ = built
    shutil.copytree(out, tmp_path / "rel")
    monkeypatch.chdir(tmp_path)
    assert compile_library(Path("rel")) == ""


def test_library_programs_rewrite_held_out_sentences_only_when_shorter() -> None:
    from prover.introspect.mine import from_definition, rewrite_with

    long = from_definition("st_0000aaaa", ["x0"], "intros x0; induction x0; simpl; auto")
    same = from_definition("st_0000bbbb", ["x0"], "rewrite x0")  # saves nothing
    assert long.pattern == [
        "seq",
        ["seq", ["seq", ["atom1/s:intros", "#0"], ["atom1/s:induction", "#0"]], "atom0/s:simpl"],
        "atom0/s:auto",
    ]
    trees, names = canonicalise(
        [parse_tactic("intros m; induction m; simpl; auto."), parse_tactic("rewrite H.")],
        {"m", "H"},
    )
    out = [print_tactic(rewrite_with(t, [same, long], names)) for t in trees]
    assert out == ["st_0000aaaa m", "rewrite H"]


@pytest.mark.parametrize(
    "programs",
    [
        [{"verified": True}],
        [
            {
                "verified": True,
                "name": "st_0000abcd",
                "body": "auto",
                "params": ["x0"],
                "param_kinds": 5,
                "arity": 1,
            }
        ],
        [
            {
                "verified": True,
                "name": "st_0000abcd",
                "body": "auto",
                "params": ["x0"],
                "param_kinds": ["name"],
                "arity": -1,
            }
        ],
        [
            {
                "verified": True,
                "name": 5,
                "body": "auto",
                "params": [],
                "param_kinds": [],
                "arity": 0,
            }
        ],
    ],
)
def test_a_malformed_library_json_is_bad_input(programs, built, tmp_path, capsys) -> None:
    import shutil

    from prover.cli import main

    out, _ = built
    lib = tmp_path / "lib"
    shutil.copytree(out, lib)
    (lib / "library.json").write_text(json.dumps({"programs": programs}))
    argv = ["prove", "--file", str(tmp_path / "X.v"), "--theorem", "t", "--library", str(lib)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not a library made by `springtail introspect`" in err and len(err.splitlines()) == 1
    assert main(["library", "show", str(lib)]) == 2


# --- per-program statistics from a replay store --------------------------------------------


def _outcome(tactic: str, kind: str):
    from prover.replay import Outcome

    new_state = "g" if kind == "progress" else None
    return Outcome("t", "M.v", "g", tactic, kind, new_state, None, 0.1, "v", 0)


def test_program_statistics_count_tries_successes_and_proofs(tmp_path) -> None:
    from prover.introspect.stats import program_stats
    from prover.replay import ReplayStore

    a, b = "st_0a0a0a0a", "st_1b1b1b1b"
    with ReplayStore(tmp_path / "r.sqlite") as store:
        store.record_outcomes(
            [
                _outcome(f"{a} H.", "progress"),
                _outcome(f"{a} H.", "progress"),
                _outcome(f"{a} n.", "failed"),
                _outcome(f"{a} m.", "timeout"),
                _outcome(f"try {b}.", "proved"),
                _outcome(f"x{a}.", "failed"),  # not a call: part of another word
                _outcome("auto.", "failed"),
            ]
        )
        store.add_proof(
            theorem="t",
            file="M.v",
            tactics=["intros.", f"{a} H."],
            steps=[("g", "intros."), ("g", f"{a} H.")],
        )
        stats = program_stats(store)
    assert stats == {
        a: {"tried": 4, "succeeded": 2, "in_proofs": 1, "success_rate": 0.5},
        b: {"tried": 1, "succeeded": 1, "in_proofs": 0, "success_rate": 1.0},
    }


def test_library_show_reads_statistics_from_a_replay_store(built, tmp_path, capsys) -> None:
    from prover.cli import main
    from prover.replay import ReplayStore

    out, payload = built
    program = next(p for p in payload["programs"] if p["verified"])
    assert program["tried"] == 0 and program["success_rate"] is None  # no store given
    assert program["proofs"] == len(program["mined_from"])
    call = " ".join([program["name"], *["H"] * program["arity"]]) + "."
    with ReplayStore(tmp_path / "r.sqlite") as store:
        store.record_outcomes([_outcome(call, "proved"), _outcome(call, "failed")])
    assert main(["library", "show", str(out), "--replay", str(tmp_path / "r.sqlite")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if f"| {program['name']}" in x)
    cells = [c.strip() for c in line.split("|")]
    assert cells[4:7] == ["2", "50%", "0"]
    assert main(["library", "show", str(out), "--replay", str(tmp_path / "none.sqlite")]) == 2
