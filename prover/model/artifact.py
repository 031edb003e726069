"""A trained tactic model on disk: the folder `springtail train` writes as `RUN/model/`.

It holds the `transformers` model (`config.json`, `model.safetensors`), the tokenizer
(`spiece.model`, ...) and `springtail.json` (training step, `max_state_tokens`, data
fingerprint). Policies, the loop and the trainer all read and write models through here, so
nothing below the trainer needs to import it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.tokenizer import SpringtailTokenizer, load_tokenizer

INFO_FILE = "springtail.json"


def model_dir(path: str | Path) -> Path:
    """A model directory, given it or the training run that wrote it (`RUN/model`)."""
    p = Path(path)
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "config.json").is_file() and (p / "spiece.model").is_file():
        return p
    raise FileNotFoundError(
        f"{p} holds no trained model (config.json + spiece.model, or model/ inside a run "
        "directory): train one with `springtail train --out DIR`"
    )


def model_info(path: str | Path) -> dict[str, Any]:
    """`springtail.json` of a model directory ({} when the model was saved without one)."""
    info = model_dir(path) / INFO_FILE
    if not info.is_file():
        return {}
    try:
        meta: dict[str, Any] = json.loads(info.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{info} is corrupt ({e}); retrain or restore the model") from None
    return meta


def save_model(model: Any, tok: SpringtailTokenizer, path: Path, info: dict[str, Any]) -> None:
    """`save_pretrained` model + tokenizer + `info` into `path`, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    old = path.with_name(path.name + ".old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)


@dataclass
class LoadedModel:
    """A tactic model ready for inference, its tokenizer, and what it was trained with."""

    path: Path
    model: Any  # prover.model.tactic.TacticModel, in eval mode on `device`
    tokenizer: SpringtailTokenizer
    max_state_tokens: int
    version: str  # first 12 hex digits of the weights' sha256: tags replay rows
    device: str


def load_tactic_model(path: str | Path, device: str | None = None) -> LoadedModel:
    """Load a model directory (or a run directory holding `model/`) for inference."""
    import torch
    from transformers.utils import logging as hf_logging

    from prover.model.tactic import TacticModel

    hf_logging.disable_progress_bar()  # one "Loading weights" bar per model load otherwise
    where = model_dir(path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = TacticModel.from_pretrained(str(where)).to(device).eval()  # type: ignore[arg-type]
    meta = model_info(where)
    return LoadedModel(
        path=where,
        model=model,
        tokenizer=load_tokenizer(where),
        max_state_tokens=int(meta.get("max_state_tokens", model.config.model_config.max_positions)),
        version=hashlib.sha256((where / "model.safetensors").read_bytes()).hexdigest()[:12],
        device=device,
    )
