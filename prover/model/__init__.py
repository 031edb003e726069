"""The recurrent link-editing transformer: encoder, recurrence drivers, tactic model, configs."""

from prover.model.config import EncoderConfig, ModelConfig
from prover.model.encoder import Carry, EncoderOutput, LinkEditingEncoder

__all__ = ["Carry", "EncoderConfig", "EncoderOutput", "LinkEditingEncoder", "ModelConfig"]
