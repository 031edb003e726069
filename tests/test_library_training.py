"""Training with a tactic library (issue 12, point 6b): targets rewritten to call its
programs, program names as single tokens, and a continued model whose vocabulary grows.

Run: pytest tests/test_library_training.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from prover.introspect.mine import from_definition
from prover.introspect.rewrite import rewrite_step

NAME = "st_0a0a0a0a"
BODY = "rewrite x0; simpl; auto"
STATE = "a, b : nat\nH : a = b\n============================\nb + 0 = a"


def _library(folder: Path) -> Path:
    folder.mkdir()
    program = {
        "name": NAME,
        "body": BODY,
        "params": ["x0"],
        "param_kinds": ["name"],
        "arity": 1,
        "verified": True,
    }
    (folder / "library.json").write_text(json.dumps({"programs": [program]}))
    return folder


def test_a_step_calls_the_program_in_its_own_names() -> None:
    program = from_definition(NAME, ["x0"], BODY)
    assert rewrite_step(STATE, "rewrite H; simpl; auto.", [program]) == f"{NAME} H."
    assert rewrite_step(STATE, "rewrite <- H; simpl; auto.", [program]) == (
        "rewrite <- H; simpl; auto."
    )
    assert rewrite_step(STATE, "intros [a b.", [program]) == "intros [a b."  # unreadable
    assert rewrite_step(STATE, "rewrite H; simpl; auto.", []) == "rewrite H; simpl; auto."


def test_added_symbols_are_single_tokens_and_old_ids_keep_their_meaning(tmp_path) -> None:
    from prover.tokenizer import add_symbols, train_tokenizer

    texts = ["rewrite H; simpl; auto.", STATE, "intros n. induction n."] * 20
    tok = train_tokenizer(texts, tmp_path / "tok", vocab_size=300)
    before = tok.encode_tactic("rewrite H; simpl; auto.", 64)
    assert len(tok.encode_tactic(f"{NAME} H.", 64)) > 4  # spelled out piece by piece
    grown = add_symbols(tmp_path / "tok", [NAME, NAME])
    assert len(grown) == len(tok) + 1
    assert grown.sp_model.piece_to_id(NAME) == len(tok)
    assert grown.encode_tactic("rewrite H; simpl; auto.", 64) == before
    ids = grown.encode_tactic(f"{NAME} H.", 64)
    assert len(tok) in ids and grown.decode_tactic(ids) == f"{NAME} H."
    fresh = train_tokenizer(texts, tmp_path / "fresh", vocab_size=300, symbols=[NAME])
    assert fresh.sp_model.piece_to_id(NAME) in fresh.encode_tactic(f"{NAME} H.", 64)


def test_growing_the_vocabulary_keeps_what_the_model_learned(trained, tmp_path) -> None:
    from prover.model.artifact import model_dir
    from prover.model.tactic import TacticModel

    out, _ = trained
    model = TacticModel.from_pretrained(str(model_dir(out))).eval()
    old = model.config.model_config.vocab_size
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        before = model(input_ids=ids, decoder_input_ids=ids).logits
        model.grow_vocabulary(old + 2)
        after = model(input_ids=ids, decoder_input_ids=ids).logits
    assert after.shape[-1] == old + 2 and torch.allclose(after[..., :old], before)
    model.save_pretrained(str(tmp_path / "m"))
    again = TacticModel.from_pretrained(str(tmp_path / "m"))
    assert again.config.model_config.vocab_size == old + 2
    with pytest.raises(ValueError, match="cannot shrink"):
        model.grow_vocabulary(old)


def test_training_with_a_library_rewrites_targets_and_grows_a_continued_model(
    trained, tmp_path
) -> None:
    from prover.model.tactic import TacticModel
    from prover.tokenizer import load_tokenizer
    from prover.train import train
    from tests.conftest import fast_train_config

    out, _ = trained
    steps = tmp_path / "steps.jsonl"
    rows = [
        {
            "theorem": f"t{k}",
            "file_path": "M.v",
            "state_before": STATE,
            "tactic": tactic,
            "state_after": "",
        }
        for k, tactic in enumerate(["rewrite H; simpl; auto.", "intros n.", "auto."] * 4)
    ]
    steps.write_text("".join(json.dumps(r) + "\n" for r in rows))
    library = _library(tmp_path / "lib")
    base = dataclasses.replace(fast_train_config(), data=str(steps), max_steps=2)
    cfg = dataclasses.replace(base, init_from=str(out), library=str(library))
    train(cfg, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["data"]["steps_calling_library"] == 4
    assert meta["data"]["library_programs"] == 1
    tok = load_tokenizer(tmp_path / "run" / "model")
    old = len(load_tokenizer(out / "model"))
    assert len(tok) == old + 1 and tok.sp_model.piece_to_id(NAME) == old
    model = TacticModel.from_pretrained(str(tmp_path / "run" / "model"))
    assert model.config.model_config.vocab_size == old + 1
    fresh = dataclasses.replace(base, library=str(library))
    train(fresh, tmp_path / "fresh")
    assert NAME in load_tokenizer(tmp_path / "fresh" / "model").get_vocab()


def test_a_broken_library_is_refused_before_training(tmp_path, capsys) -> None:
    from prover.cli import main

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "library.json").write_text("{not json")
    steps = tmp_path / "steps.jsonl"
    steps.write_text(json.dumps({"state_before": STATE, "tactic": "auto.", "state_after": ""}))
    argv = ["train", "--data", str(steps), "--library", str(tmp_path / "lib")]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "not a library made by `springtail introspect`" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
