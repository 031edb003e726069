"""miniF2F on Coq, on real Coq: a file of the shared format proved end to end, files that do
not compile counted as discarded, the `classical` axiom allowance (exactly its kernel names,
nothing else), Coquelicot and the arithmetic closers installed, the combined closers proving
what single closers cannot, bad input refused.

Run: pytest tests/test_minif2f_coq.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import minif2f_coq
from eval.summary import EvalConfig
from prover.cli import main
from prover.data import statement_files, statement_half
from prover.envs import get_env
from prover.envs.coq_axioms import CLASSICAL, axiom_set
from prover.loop import LoopConfig, theorem_sets
from prover.policies.hybrid import HybridPolicy
from prover.policies.portfolio import ARITH_COMBINATORS, PortfolioPolicy, arith_tools
from prover.pool import PoolConfig

from .conftest import SHARED_DATA

VALID = SHARED_DATA / "minif2f_coq" / "valid"

# The shared format: imports, `Theorem NAME : ...`, `Proof.`, `Admitted.`; NAME.v.
FILES = {
    # a linear real equation: `intros.` then `lra`, whose proof rests on the reals' axioms
    "toy_linear": "Require Import Reals.\nOpen Scope R_scope.\n\n"
    "Theorem toy_linear :\n  forall x : R, 2 * x + 3 = 7 -> x = 2.\nProof.\nAdmitted.\n",
    # does not compile: no such library
    "toy_no_library": "Require Import NoSuchLibraryAnywhere.\n\n"
    "Theorem toy_no_library : True.\nProof.\nAdmitted.\n",
    # does not compile: the statement does not type-check
    "toy_ill_typed": "Require Import Arith.\n\n"
    "Theorem toy_ill_typed : 1 + true = 2.\nProof.\nAdmitted.\n",
    # compiles, but states another name than its file's
    "toy_misnamed": "Theorem something_else : True.\nProof.\nAdmitted.\n",
}
# a function given by its definition and used at points: no single closer proves it (`f` is
# opaque to `lra`), the combined closer rewriting with the definition first does
FUNCTION = (
    "Require Import Reals.\nOpen Scope R_scope.\n\nTheorem toy_function :\n"
    "  forall (a : R) (f : R -> R),\n  (forall x, f x = a * x + 1) ->\n  f 2 = 5 ->\n"
    "  f 3 = 7.\nProof.\nAdmitted.\n"
)


def _write(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.v").write_text(FILES[name])
    return folder


def test_a_file_is_proved_end_to_end_and_broken_files_are_discarded(
    capsys, tmp_path: Path, coq_installed: None
) -> None:
    data = _write(tmp_path / "valid", list(FILES))
    out = tmp_path / "summary.json"
    rc = main(
        [
            "eval",
            "minif2f",
            "--backend",
            "coq",
            "--data",
            str(data),
            "--policy",
            "portfolio",
            "--timeout",
            "30",
            "--workers",
            "1",
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0
    summary = json.loads(out.read_text())
    assert summary["benchmark"] == "minif2f-coq"
    assert summary["allowed_axioms"] == {"set": "classical", "names": list(CLASSICAL)}
    assert (summary["attempted"], summary["proved"], summary["discarded"]) == (1, 1, 3)
    rows = {r["theorem"]: r for r in summary["results"]}
    assert set(rows) == set(FILES)
    proved = rows["toy_linear"]
    assert proved["proved"] and proved["status"] == "proved"
    assert any("lra" in t for t in proved["proof"])
    # the reals rest on the standard library's axioms: allowed, and reported
    assert proved["axioms"] and set(proved["axioms"]) <= set(CLASSICAL)
    for name in ("toy_no_library", "toy_ill_typed", "toy_misnamed"):
        assert rows[name]["status"] == "discarded" and not rows[name]["proved"]
        assert rows[name]["reason"]
    assert "axioms allowed: classical" in printed
    assert "ClassicalDedekindReals" in printed  # the axioms the proofs used, by name


def test_a_combined_closer_proves_a_function_given_by_its_definition(
    tmp_path: Path, coq_installed: None
) -> None:
    """`--arith`'s combined closers (rewrite with the definition, then `lra`) prove what the
    single closers cannot; the proof is re-checked like any other."""
    data = tmp_path / "valid"
    data.mkdir()
    (data / "toy_function.v").write_text(FUNCTION)
    theorems = statement_files(data)
    config = EvalConfig(split="valid", time_limit_s=30.0, tactic_timeout=5.0)
    single = PortfolioPolicy(arith=True, combinators=False)  # the single closers only
    assert not set(ARITH_COMBINATORS) & set(single.closers)
    without = minif2f_coq.evaluate(theorems, single, config, pool=PoolConfig(workers=1))
    assert without["proved"] == 0
    summary = minif2f_coq.evaluate(
        theorems, PortfolioPolicy(arith=True), config, pool=PoolConfig(workers=1)
    )
    (row,) = summary["results"]
    assert row["proved"] and row["status"] == "proved", row["reason"]
    assert row["axioms"]  # what the re-check (coqc, the audit) found the proof to use
    assert any("rewrite ?H in *" in t and "lra" in t for t in row["proof"])


def test_the_versions_say_which_closers_ran() -> None:
    """Outcomes in a replay store and a resumed eval are told apart by the version: the
    combined closers are `+arith2`, for the portfolio and for the hybrid around it."""
    plain, arith = PortfolioPolicy(), PortfolioPolicy(arith=True)
    ablation = PortfolioPolicy(arith=True, combinators=False)
    assert not set(ARITH_COMBINATORS) & (set(plain.closers) | set(ablation.closers))
    assert set(ARITH_COMBINATORS) <= set(arith.closers)
    assert plain.version == "portfolio-2"
    assert arith.version.startswith("portfolio+arith2[lra,nra")
    assert ablation.version.startswith("portfolio+arith[lra,nra")
    versions = [HybridPolicy(closers=p).version for p in (plain, arith, ablation)]
    assert [v.split(",")[0] for v in versions] == [
        "hybrid[closer",
        "hybrid[closer+arith2",
        "hybrid[closer+arith",
    ]


def test_the_proof_is_rejected_without_the_allowance(tmp_path: Path, coq_installed: None) -> None:
    file = _write(tmp_path, ["toy_linear"]) / "toy_linear.v"
    proof = ["intros.", "lra."]
    imports = arith_tools()[1]
    with get_env("coq") as env:
        bare = env.verify(file=file, theorem="toy_linear", proof=proof, imports=imports)
    with get_env("coq", allowed_axioms=CLASSICAL) as env:
        allowed = env.verify(file=file, theorem="toy_linear", proof=proof, imports=imports)
    assert not bare.ok and "ClassicalDedekindReals" in bare.reason
    assert allowed.ok, allowed.reason


CHEATS = {
    # the file's own axiom
    "own_axiom": (
        "Require Import Reals.\nOpen Scope R_scope.\nAxiom cheat : forall x : R, x = 0.\n"
        "Theorem own_axiom : 1 = 0.\nProof.\nAdmitted.\n",
        ["apply cheat."],
        "cheat",
    ),
    # an axiom named like the standard library's excluded middle, declared by the file
    "forged_classic": (
        "Module Logic.\nModule Classical_Prop.\nAxiom classic : 1 = 2.\n"
        "End Classical_Prop.\nEnd Logic.\n"
        "Theorem forged_classic : 1 = 2.\nProof.\nAdmitted.\n",
        ["exact Logic.Classical_Prop.classic."],
        "forged_classic.Logic.Classical_Prop.classic",
    ),
    # file `coq.v`: kernel names are case-sensitive, lower-case coq is not the stdlib
    "coq": (
        "Module Logic.\nModule Classical_Prop.\nAxiom classic : 1 = 2.\n"
        "End Classical_Prop.\nEnd Logic.\nTheorem coq : 1 = 2.\nProof.\nAdmitted.\n",
        ["exact Logic.Classical_Prop.classic."],
        "classic",
    ),
    # file `Classical_Prop.v` with its own top-level `classic`
    "Classical_Prop": (
        "Axiom   classic\t: 1 = 2.\nTheorem Classical_Prop : 1 = 2.\nProof.\nAdmitted.\n",
        ["exact classic."],
        "classic",
    ),
    # a module named like the reals' axioms' library, after the real one is loaded
    "sig_shadow": (
        "Require Import Coq.Reals.ClassicalDedekindReals.\nModule ClassicalDedekindReals.\n"
        "Axiom sig_forall_dec : 1 = 2.\nEnd ClassicalDedekindReals.\n"
        "Theorem sig_shadow : 1 = 2.\nProof.\nAdmitted.\n",
        ["exact ClassicalDedekindReals.sig_forall_dec."],
        "sig_forall_dec",
    ),
    # an admitted lemma is never an allowed axiom, whatever it is called
    "admitted_lemma": (
        "Require Import Reals.\nLemma sig_forall_dec : (1 = 2)%R.\nAdmitted.\n"
        "Theorem admitted_lemma : (1 = 2)%R.\nProof.\nAdmitted.\n",
        ["exact sig_forall_dec."],
        "sig_forall_dec",
    ),
}


@pytest.mark.parametrize("name", list(CHEATS))
def test_non_allowed_axioms_are_rejected_under_classical(
    name: str, tmp_path: Path, coq_installed: None
) -> None:
    text, proof, culprit = CHEATS[name]
    file = tmp_path / f"{name}.v"
    file.write_text(text)
    with get_env("coq", allowed_axioms=CLASSICAL) as env:
        res = env.verify(file=file, theorem=name, proof=proof)
    assert not res.ok
    assert culprit in res.reason


def test_a_file_named_like_the_standard_library_is_refused(
    capsys, tmp_path: Path, coq_installed: None
) -> None:
    """`Coq.v` would be the library `Coq`: its `Logic.Classical_Prop.classic` would have the
    kernel name of the standard library's excluded middle (an axiom 1 = 2 here)."""
    file = tmp_path / "Coq.v"
    file.write_text(
        "Module Logic.\nModule Classical_Prop.\nAxiom classic : 1 = 2.\n"
        "End Classical_Prop.\nEnd Logic.\nTheorem t : 1 = 2.\nProof.\nAdmitted.\n"
    )
    argv = ["--file", str(file), "--theorem", "t", "--allow-axioms", "classical"]
    assert main(["prove", *argv, "--timeout", "5"]) == 2
    assert "a name of Coq's standard library" in capsys.readouterr().err
    assert main(["check", str(file), "--allow-axioms", "classical"]) == 2
    data = tmp_path / "valid"
    data.mkdir()
    file.rename(data / "Coq.v")
    out = tmp_path / "s.json"
    args = ["--data", str(data), "--workers", "1", "--timeout", "5", "--json", str(out)]
    assert main(["eval", "minif2f", "--backend", "coq", *args]) == 0
    summary = json.loads(out.read_text())
    assert summary["proved"] == 0 and "standard library" in summary["results"][0]["reason"]


def test_classic_from_the_installed_library_is_allowed_only_under_classical(
    capsys, tmp_path: Path, coq_installed: None
) -> None:
    file = tmp_path / "em.v"
    file.write_text(
        "Require Import Classical.\nTheorem em : forall P : Prop, P \\/ ~ P.\n"
        "Proof. exact classic. Qed.\n"
    )
    assert main(["check", str(file), "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert "Coq.Logic.Classical_Prop.classic" in refused[0]["reason"]
    assert main(["check", str(file), "--json", "--allow-axioms", "classical"]) == 0
    accepted = json.loads(capsys.readouterr().out)
    assert accepted[0]["axioms"] == ["Coq.Logic.Classical_Prop.classic"]


def test_coquelicot_and_the_arithmetic_back_ends_are_installed(capsys, coq_installed: None) -> None:
    """`make setup` installs libcoq-coquelicot, libcoq-interval and coinor-csdp."""
    main(["doctor"])
    lines = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["coquelicot"].startswith("ok")
    assert lines["arith"].startswith("ok"), lines["arith"]
    closers, imports = arith_tools()
    assert closers == ("lra", "nra", "psatz R 2", "interval")
    policy = PortfolioPolicy(arith=True)
    assert set(closers) <= set(policy.closers) and policy.imports == imports
    assert "psatz" in policy.version


@pytest.mark.skipif(not VALID.is_dir(), reason="needs ../shared/data/minif2f_coq/valid")
def test_shared_coquelicot_problems_open(tmp_path: Path, coq_installed: None) -> None:
    """A shared problem importing Coquelicot opens in its own context (it would be discarded
    without the library)."""
    users = sorted(f for f in VALID.glob("*.v") if "Coquelicot" in f.read_text())
    assert users, "the shared valid split has problems importing Coquelicot"
    file = users[0]
    with get_env("coq") as env:
        state = env.open(file=file, theorem=file.stem)
    assert "====" in state.text


def test_halves_and_order_are_fixed_by_the_names(tmp_path: Path) -> None:
    """The halves and the order follow sha256 of the name (hex digest: parity, and sorted),
    whatever the folder listing; written out here for the fixture's names."""
    data = _write(tmp_path / "valid", list(FILES))
    every = statement_files(data)
    # sha256 hex digests begin 17c7.. (ill_typed, odd: held out), 19c3.. (linear), 499e..
    # (no_library), d4b2.. (misnamed)
    assert [t.name for t in every] == [
        "toy_ill_typed",
        "toy_linear",
        "toy_no_library",
        "toy_misnamed",
    ]
    assert [t.name for t in statement_half(every, "held")] == ["toy_ill_typed"]
    assert [t.name for t in statement_half(every, "train")] == [
        "toy_linear",
        "toy_no_library",
        "toy_misnamed",
    ]
    cfg = LoopConfig(minif2f=str(data), train_theorems=2, eval_theorems=5, policy="hybrid")
    loop_train, loop_eval = theorem_sets(cfg)
    assert [t.name for t in loop_train] == ["toy_linear", "toy_no_library"]
    assert [t.name for t in loop_eval] == ["toy_ill_typed"]


@pytest.mark.parametrize("folder", ["test", "Test", "minif2f_test", "anything"])
def test_the_loop_learns_from_a_valid_folder_only(folder: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid problems only"):
        LoopConfig(minif2f=str(_write(tmp_path / folder, ["toy_linear"])))


def test_axiom_sets_are_named() -> None:
    assert axiom_set("none") == ()
    assert "Coq.Logic.Classical_Prop.classic" in axiom_set("classical")
    with pytest.raises(ValueError, match="classical"):
        axiom_set("everything")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--split", "test"], "only valid is shipped"),
        (["--data", "/nonexistent/folder"], "is not a folder"),
    ],
)
def test_bad_minif2f_input_exits_2(capsys, argv: list[str], message: str) -> None:
    assert main(["eval", "minif2f", "--backend", "coq", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "coq", "--allow-axioms", "classical"], "--allow-axioms is for eval minif2f"),
        (["eval", "coq", "--backend", "lean"], "eval coq runs on Coq"),
        (["eval", "minif2f", "--half", "held"], "use it with --backend coq"),
        (["eval", "minif2f", "--allow-axioms", "classical"], "is a set of Coq axioms"),
        (["eval", "minif2f", "--backend", "coq", "--policy", "hammer", "--arith"], "--arith"),
        (["eval", "coq", "--arith"], "would load held-out files"),
        (
            ["loop", "--minif2f", "x/valid", "--eval-split", "novel_files/test"],
            "--eval-split is not used",
        ),
        (["check", "x.v", "--allow-axioms", "classical", "--allow-impredicative-set"], "Set"),
    ],
)
def test_misplaced_options_exit_2(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
