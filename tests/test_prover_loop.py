"""The prover loop on real Coq with a tiny model: tokenizer, training (loss falls, exact
resume), the model policy, search + verification, and one expert-iteration round end to end.

A small Coq file is traced (real coqidetop) into a trace folder whose train split holds every
lemma and whose val split holds two; a tiny model trained on it for a few dozen steps learns
the few tactics it needs.

Run: pytest tests/test_prover_loop.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from prover.data import TacticStep
from prover.tokenizer import EOS, load_tokenizer, train_tokenizer
from prover.trace import trace_file
from prover.train import TrainConfig, build_examples, make_batch, preset, train

LEMMAS = """\
Lemma t_true : True.
Proof. trivial. Qed.

Lemma t_two : 1 + 1 = 2.
Proof. reflexivity. Qed.

Lemma t_and : True /\\ True.
Proof. split. trivial. trivial. Qed.

Lemma t_imp : forall P : Prop, P -> P.
Proof. intros P H. exact H. Qed.

Lemma v_four : 2 + 2 = 4.
Proof. reflexivity. Qed.

Lemma v_true : True.
Proof. trivial. Qed.
"""

# Small enough to train in seconds on the CPU, same code path as the presets.
FAST = dataclasses.replace(
    preset("tiny"),
    batch_size=8,
    vocab_size=300,
    optim=dataclasses.replace(preset("tiny").optim, warmup_steps=5, lr=3e-3),
    checkpoint_every=1000,
)


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trace")
    src = root / "Lemmas.v"
    src.write_text(LEMMAS)
    ft = trace_file(src)
    assert not ft.error, ft.error
    records = {r["theorem"]: r for r in ft.theorems}
    assert len(records) == 6 and all(r["traced_tactics"] for r in records.values())
    split = root / "novel_files"
    split.mkdir()
    (split / "train.json").write_text(json.dumps(list(records.values())))
    (split / "val.json").write_text(json.dumps([records["v_four"], records["v_true"]]))
    return root


@pytest.fixture(scope="module")
def trained(trace_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = dataclasses.replace(FAST, data=str(trace_dir), max_steps=120)
    return out, train(cfg, out)


# --- tokenizer ---


def test_tokenizer_round_trips_reproducibly_and_saves(tmp_path: Path) -> None:
    texts = [
        "n, m : nat\nIH : n + 0 = n\n============================\nS n + 0 = S n",
        "induction n as [|n IH]; simpl; [reflexivity | rewrite IH; reflexivity].",
        "  two  spaces\tand a tab, ∀ x : ℕ, x ≤ x ∧ é",
    ] * 20
    a = train_tokenizer(texts, tmp_path / "a", vocab_size=200, seed=3)
    train_tokenizer(texts, tmp_path / "b", vocab_size=200, seed=3)
    assert (tmp_path / "a" / "spiece.model").read_bytes() == (
        tmp_path / "b" / "spiece.model"
    ).read_bytes()
    tok = load_tokenizer(tmp_path / "a")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens([tok.state_token_id, tok.tactic_token_id]) == [
        "<state>",
        "<tactic>",
    ]
    for text in [*texts[:3], "never seen: ⟨λ⟩ ∑ ∫ 漢字 \U0001f600"]:
        assert tok.decode_tactic(tok.encode_tactic(text, 1000)) == text  # exact, unseen chars too
        assert tok.decode(tok(text)["input_ids"]) == text  # the transformers interface
        ids = tok.encode_state(text, 8)
        assert ids[0] == tok.state_token_id and len(ids) <= 8
    assert tok.encode_tactic(texts[1], 3) is None  # too long: dropped, never cut
    # a state cut to fit keeps the first goal's conclusion, then what fits of the others
    long_hyps = "\n".join(f"H{i} : P{i}" for i in range(50))
    goal1 = f"{long_hyps}\n============================\nS n + 0 = S n"
    cut = tok.decode(tok.encode_state(goal1 + "\n\nm : nat\n====\nm = m", 30)[1:])
    assert cut.endswith("====\nS n + 0 = S n") and len(cut) < len(goal1)
    short = "x : nat\n====\nx = x"
    cut = tok.decode(tok.encode_state(f"{short}\n\n{goal1}", 40)[1:])
    assert cut.startswith(short + "\n\n") and not cut.endswith("S n")
    assert tok.encode_tactic("auto.", 10)[-1] == EOS
    assert len(a) == len(tok)


# --- training ---


def test_training_loss_falls_and_saves_a_loadable_model(trained: tuple[Path, dict]) -> None:
    out, summary = trained
    assert summary["steps"] == 120
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.3 * log[0]["loss"], (log[0], log[-1])
    from prover.model.tactic import TacticModel

    model = TacticModel.from_pretrained(str(out / "model"))
    assert model.config.vocab_size == len(load_tokenizer(out / "model"))


def test_resume_equals_an_uninterrupted_run(trace_dir: Path, tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, data=str(trace_dir), max_steps=8)
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "resumed", stop_at=4)
    assert [p.name for p in (tmp_path / "resumed").glob("ckpt_*.pt")] == ["ckpt_000004.pt"]
    train(cfg, tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "ckpt_000008.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "ckpt_000008.pt", weights_only=False)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"{name} differs after resume"
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert a["scheduler"] == b["scheduler"]


def test_resume_refuses_another_config(trace_dir: Path, tmp_path: Path) -> None:
    cfg = dataclasses.replace(FAST, data=str(trace_dir), max_steps=2)
    train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="another config"):
        train(dataclasses.replace(cfg, seed=1), tmp_path / "run")


def test_batches_depend_only_on_seed_and_step_and_shard_across_ranks(
    trace_dir: Path, tmp_path: Path
) -> None:
    tok = train_tokenizer(["abc def", "trivial.", "split."] * 5, tmp_path / "tok", vocab_size=60)
    steps = [TacticStep("t", "f", f"goal {i}", f"tac{i}.", "no goals") for i in range(10)]
    ex = build_examples(tok, TrainConfig(batch_size=4), steps, steps[:2])
    assert (ex.num_traced, ex.num_replay) == (10, 4)  # replay_repeat=2
    cfg = TrainConfig(batch_size=4)
    a, b = make_batch(ex, cfg, 7), make_batch(ex, cfg, 7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(make_batch(ex, cfg, 8)["labels"], a["labels"])

    def rows(batch: dict[str, torch.Tensor]) -> list[list[int]]:
        return [[t for t in row.tolist() if t != -100] for row in batch["labels"]]

    shards = rows(make_batch(ex, cfg, 7, 0, 2)) + rows(make_batch(ex, cfg, 7, 1, 2))
    assert shards == rows(a)  # the two processes' halves make up the global batch


# --- the model policy, search and verification on real Coq ---


def test_model_policy_proves_on_real_coq(trained, trace_dir, coq_installed) -> None:
    from prover.envs import get_env
    from prover.policy import ModelPolicy
    from prover.prove import prove_theorem
    from prover.search import SearchConfig

    out, _ = trained
    policy = ModelPolicy(out, num_candidates=4)
    file = trace_dir / "Lemmas.v"
    with get_env("coq", tactic_timeout=2.0) as env:
        root = env.open(file=file, theorem="t_true")
        proposals = policy.propose_batch([root, root])
        assert proposals[0] == proposals[1]  # batching does not change a state's candidates
        assert proposals[0][0].tactic == "trivial."
        lps = [c.logprob for c in proposals[0]]
        assert lps == sorted(lps, reverse=True) and all(lp <= 0 for lp in lps)
        seen = []
        result = prove_theorem(
            env,
            policy,
            file=file,
            theorem="t_and",
            config=SearchConfig(time_limit_s=60, batch_size=2, debug=True),
            on_outcome=lambda s, t, r, dt: seen.append((s.text, t, type(r).__name__)),
        )
    assert result.proved and result.status == "proved", result
    assert result.proof[0] == "split."
    assert [t for _, t in result.steps] == result.proof
    assert seen and seen[-1][2] == "Proved"


# --- expert iteration ---


def test_one_loop_round_end_to_end(trained, trace_dir, tmp_path, coq_installed) -> None:
    from prover.loop import LoopConfig, run_loop
    from prover.replay import ReplayStore

    out, _ = trained
    cfg = LoopConfig(
        data=str(trace_dir),
        eval_split="novel_files/val",
        rounds=1,
        train_theorems=6,
        eval_theorems=2,
        time_limit_s=20,
        tactic_timeout_s=2,
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
    # running again with more rounds resumes after round 1 instead of starting over
    rows2 = run_loop(dataclasses.replace(cfg, rounds=1), tmp_path / "loop", log=lines.append)
    assert rows2 == rows


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


def test_accelerate_launch_with_two_cpu_processes(trace_dir: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert launcher, "accelerate is a dependency: its launcher must sit beside python"
    out = tmp_path / "ddp"
    cmd = [launcher, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1"]
    cmd += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "prover.train"]
    cmd += ["--data", str(trace_dir), "--steps", "3", "--out", str(out), "batch_size=4"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    summaries = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and json.loads(summaries[0])["steps"] == 3  # one process prints
    assert (out / "ckpt_000003.pt").is_file() and (out / "model" / "model.safetensors").is_file()
