"""The proof-state / tactic tokenizer: a sentencepiece model trained on traced proof states and
tactics, exposed as a `transformers` tokenizer (`save_pretrained` / `from_pretrained`).

Ids 0-3 are `<pad>`, `<s>` (bos), `</s>` (eos), `<unk>`, matching `ModelConfig`'s defaults;
`<state>` starts every encoded proof state; `<tactic>` is reserved to mark where a tactic
starts when state and tactic share one sequence (the encoder-decoder model starts its tactics
with bos); a newline is one token of its own (goal layout carries meaning). Normalisation is
the identity and unseen characters fall back to bytes, so `decode(encode(text)) == text` for
any text: a generated tactic reaches the proof assistant exactly as the model spelled it.

Names given as `symbols` (a tactic library's program names, `st_<hash>`) are single tokens:
`train_tokenizer(..., symbols=...)` makes them user-defined pieces, and `add_symbols` appends
the ones a saved tokenizer lacks after its last id (so ids already learned keep meaning the
same thing; the model grows its embeddings to match, `TacticModel.grow_vocabulary`).

Training is reproducible: the corpus is sampled with `random.Random(seed)` and sentencepiece
runs single-threaded, so the same texts and seed give the same model file byte for byte.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

STATE_TOKEN = "<state>"
TACTIC_TOKEN = "<tactic>"
PAD, BOS, EOS, UNK = 0, 1, 2, 3


class SpringtailTokenizer(SentencePieceBackend):
    """Sentencepiece tokenizer for proof states and tactics (see the module docstring).

    `encode_state` / `encode_tactic` / `decode_tactic` are the exact, fast paths the model
    uses; the usual `tokenizer(text)` / `decode(ids)` interface works as for any tokenizer.
    """

    vocab_files_names = {"vocab_file": "spiece.model"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str,
        pad_token: str = "<pad>",
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        unk_token: str = "<unk>",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("extra_special_tokens", [STATE_TOKEN, TACTIC_TOKEN])
        kwargs["legacy"] = True  # encode text as is (no unk-prefix trick)
        super().__init__(
            vocab_file=vocab_file,
            pad_token=pad_token,
            bos_token=bos_token,
            eos_token=eos_token,
            unk_token=unk_token,
            **kwargs,
        )
        self.state_token_id = self.sp_model.piece_to_id(STATE_TOKEN)
        self.tactic_token_id = self.sp_model.piece_to_id(TACTIC_TOKEN)
        self.newline_id = self.sp_model.piece_to_id("\n")

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        # sentencepiece's own decoder: exact for spaces, newlines and byte-fallback pieces.
        out: str = self.sp_model.decode_pieces(tokens)
        return out

    def encode_state(self, text: str, max_tokens: int) -> list[int]:
        """`<state>` + the state's pieces, at most `max_tokens` in all. A state that does not
        fit keeps its first goal whole, then as much of the other goals as fits; a first goal
        that alone does not fit keeps its end: the conclusion and the hypotheses nearest it
        (Coq prints the conclusion below `====`, Lean after `⊢`)."""
        budget = max_tokens - 1
        ids: list[int] = self.sp_model.encode(text)
        if len(ids) <= budget:
            return [self.state_token_id, *ids]
        nl = self.newline_id  # a newline is always a token of its own: find the blank line
        end = next((i for i in range(len(ids) - 1) if ids[i] == ids[i + 1] == nl), len(ids))
        if end >= budget:
            return [self.state_token_id, *ids[end - budget : end]]
        return [self.state_token_id, *ids[:budget]]

    def encode_tactic(self, text: str, max_tokens: int) -> list[int] | None:
        """The tactic's pieces + eos, or None when it does not fit in `max_tokens` (a cut
        tactic would teach the model to stop mid-tactic)."""
        ids: list[int] = self.sp_model.encode(text)
        if len(ids) + 1 > max_tokens:
            return None
        return [*ids, EOS]

    def decode_tactic(self, ids: Sequence[int]) -> str:
        """Generated ids (bos/eos/pad anywhere) -> the tactic text."""
        keep = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                keep.append(int(i))
        out: str = self.sp_model.decode(keep)
        return out


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    vocab_size: int = 4000,
    seed: int = 0,
    max_texts: int = 20_000,
    symbols: Sequence[str] = (),
) -> SpringtailTokenizer:
    """Train on (a seeded sample of at most `max_texts` of) `texts`, save to `out_dir`.
    `vocab_size` is a target: at least every character + 256 bytes, at most what the corpus
    supports."""
    import sentencepiece as spm

    corpus = [t for t in texts if t]
    if not corpus:
        raise ValueError("no text to train the tokenizer on: is the trace empty?")
    rng = random.Random(seed)
    if len(corpus) > max_texts:
        corpus = rng.sample(corpus, max_texts)
    else:
        rng.shuffle(corpus)
    # Every character seen gets a piece, and so do the 256 byte-fallback pieces and the 7
    # special ones: a vocabulary smaller than that is raised to it.
    chars = set().union(*map(set, corpus))
    vocab_size = max(vocab_size, len(chars) + 256 + 7 + len(symbols) + 1)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=PAD,
        bos_id=BOS,
        eos_id=EOS,
        unk_id=UNK,
        user_defined_symbols=[STATE_TOKEN, TACTIC_TOKEN, "\n", *symbols],
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        split_digits=True,
        hard_vocab_limit=False,  # a small corpus may not support the full vocabulary
        max_sentence_length=1 << 20,
        input_sentence_size=0,  # the sample above is the corpus
        shuffle_input_sentence=False,
        num_threads=1,  # deterministic
        minloglevel=2,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_file = out / "spiece.model"
    model_file.write_bytes(buf.getvalue())
    tok = SpringtailTokenizer(vocab_file=str(model_file))
    tok.save_pretrained(str(out))
    return tok


def add_symbols(path: str | Path, symbols: Sequence[str]) -> SpringtailTokenizer:
    """Append the `symbols` the tokenizer saved in `path` lacks as single-token pieces (new
    ids after the last one, in the given order), save it back, and return it."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model_file = Path(path) / "spiece.model"
    proto = pb.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(model_file.read_bytes())
    known = {piece.piece for piece in proto.pieces}
    for symbol in symbols:
        if symbol not in known:
            piece = proto.pieces.add()
            piece.piece, piece.score = symbol, 0.0
            piece.type = pb.ModelProto.SentencePiece.USER_DEFINED  # type: ignore[attr-defined]
            known.add(symbol)
    model_file.write_bytes(proto.SerializeToString())
    tok = SpringtailTokenizer(vocab_file=str(model_file))
    tok.save_pretrained(str(path))
    return tok


def load_tokenizer(path: str | Path) -> SpringtailTokenizer:
    """A tokenizer saved by `train_tokenizer` or `save_pretrained`."""
    p = Path(path)
    if not (p / "spiece.model").is_file():
        raise FileNotFoundError(f"{p} holds no tokenizer (spiece.model): train one first")
    tok: SpringtailTokenizer = SpringtailTokenizer.from_pretrained(str(p))
    return tok
