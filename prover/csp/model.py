"""One model for both puzzles: cell embedding + position + encoder + per-cell head.

Encoders (`kind`): "link" the recurrent link-editing encoder; "looped" the same recurrence with
links frozen at their structural value; "plain" a non-recurrent transformer. Both baselines
get the link model's parameter count by a wider d_ff (`prover/model/baselines.py`).
Structural links start at `link_init` between peers (Sudoku) or neighbours (maze) and 0
elsewhere, shared by all heads.

Positions: "absolute" learns one embedding per cell, so the model runs on its task's size only;
"none" gives cells no position at all, so everything the model knows of the grid comes from the
structural links and the grid's size is a property of the data: a recurrent model trained on
15x15 mazes runs unchanged on 30x30 ones (links built for each size).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from prover.csp.task import get_task
from prover.model.baselines import PlainEncoder, matched_looped_config, matched_plain_config
from prover.model.carry import Carry
from prover.model.config import EncoderConfig
from prover.model.encoder import LinkEditingEncoder

Kind = Literal["link", "looped", "plain"]
Positions = Literal["absolute", "none"]


@dataclass(frozen=True)
class CSPModelConfig:
    task: str = "sudoku"
    kind: Kind = "link"
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(
            d_model=128, num_heads=4, d_ff=512, num_layers=2, num_steps=8, pointer_dim=16
        )
    )
    link_init: float = 1.0
    positions: Positions = "absolute"

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.kind not in ("link", "looped", "plain"):
            raise ValueError(f"kind must be link, looped or plain, got {self.kind!r}")
        if self.positions not in ("absolute", "none"):
            raise ValueError(f"positions must be absolute or none, got {self.positions!r}")
        if abs(self.link_init) > self.encoder.link_clip:
            raise ValueError(
                f"link_init {self.link_init} is outside the link clip +-{self.encoder.link_clip}: "
                "the link model would start clipped and the looped one not"
            )
        if self.positions == "none" and self.kind == "plain":
            raise ValueError("a plain model without positions sees a bag of cells: use absolute")


@dataclass
class CSPOutput:
    logits: list[torch.Tensor]  # (B, N, C) per supervised step, last = the answer
    halt_logits: list[torch.Tensor]  # (B,) per supervised step (empty for "plain")
    steps_used: torch.Tensor  # (B,)
    carry: Carry | None


class CSPModel(nn.Module):
    def __init__(self, cfg: CSPModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        spec = get_task(cfg.task)
        d = cfg.encoder.d_model
        self.spec = spec
        self.embed = nn.Embedding(spec.input_vocab, d)
        self.pos = nn.Embedding(spec.num_cells, d) if cfg.positions == "absolute" else None
        self.encoder: nn.Module
        if cfg.kind == "plain":
            self.encoder = PlainEncoder(matched_plain_config(cfg.encoder))
        elif cfg.kind == "looped":
            self.encoder = LinkEditingEncoder(matched_looped_config(cfg.encoder))
        else:
            self.encoder = LinkEditingEncoder(dataclasses.replace(cfg.encoder, edit_links=True))
        self.head = nn.Linear(d, spec.num_classes)
        self.register_buffer(
            "structural_links",
            torch.from_numpy(spec.links()).float() * cfg.link_init,
            persistent=False,
        )
        self._other_links: dict[tuple[int, str], torch.Tensor] = {}  # other sizes, per device

    def links_for(self, n: int, device: torch.device) -> torch.Tensor:
        """(N, N) structural links times link_init for a puzzle of n cells."""
        if n == self.spec.num_cells:
            return self.structural_links  # type: ignore[return-value]
        key = (n, str(device))
        if key not in self._other_links:
            if len(self._other_links) >= 4:  # a few sizes at a time: (N, N) each
                self._other_links.clear()
            links = torch.from_numpy(self.spec.links_for(n)).float() * self.cfg.link_init
            self._other_links[key] = links.to(device)
        return self._other_links[key]

    def forward(
        self, inputs: torch.Tensor, num_steps: int | None = None, carry: Carry | None = None
    ) -> CSPOutput:
        """inputs (B, N) long -> per-step cell logits. `carry` (a recurrent model's earlier
        `CSPOutput.carry`) continues that recurrence with these inputs injected."""
        B, N = inputs.shape
        x = self.embed(inputs)  # (B, N, d)
        if self.pos is not None:
            if N != self.spec.num_cells:
                raise ValueError(
                    f"this model learned positions for {self.spec.num_cells} cells and cannot "
                    f"read {N}; train with model.positions=none to run on other sizes"
                )
            x = x + self.pos(torch.arange(N, device=inputs.device))
        if isinstance(self.encoder, PlainEncoder):
            out = self.encoder(x)
        else:
            links = self.links_for(N, inputs.device).expand(B, N, N)
            out = self.encoder(x, links=links, num_steps=num_steps, carry=carry)
        logits = [self.head(z) for z in out.step_states]
        return CSPOutput(logits, out.halt_logits, out.steps_used, out.carry)


def loss_and_metrics(
    out: CSPOutput, targets: torch.Tensor, halt_weight: float = 0.5
) -> tuple[torch.Tensor, dict[str, float]]:
    """Deep supervision: cross-entropy at every supervised step, plus a halting loss that
    teaches the halting head whether the grid is already exactly right (TRM's Q-halt)."""
    ce = torch.stack([F.cross_entropy(lg.transpose(1, 2), targets) for lg in out.logits]).mean()
    loss = ce
    if out.halt_logits and halt_weight > 0:
        exact = [(lg.argmax(-1) == targets).all(-1).float() for lg in out.logits]
        halt = torch.stack(
            [
                F.binary_cross_entropy_with_logits(h, e)
                for h, e in zip(out.halt_logits, exact, strict=True)
            ]
        ).mean()
        loss = loss + halt_weight * halt
    with torch.no_grad():
        pred = out.logits[-1].argmax(-1)
        metrics = {
            "loss": loss.item(),
            "cell_acc": (pred == targets).float().mean().item(),
            "exact": (pred == targets).all(-1).float().mean().item(),
        }
    return loss, metrics
