"""The proof-state tokenizer: exact round trips, reproducible training, state cutting.

Run: pytest tests/test_tokenizer.py
"""

from __future__ import annotations

from pathlib import Path

from prover.tokenizer import EOS, load_tokenizer, train_tokenizer


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
