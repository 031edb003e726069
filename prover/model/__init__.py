"""The recurrent link-editing transformer: encoder, recurrence drivers, tactic model, configs."""

from prover.model.carry import Carry, EncoderOutput
from prover.model.config import EncoderConfig, ModelConfig
from prover.model.encoder import LinkEditingEncoder

__all__ = ["Carry", "EncoderConfig", "EncoderOutput", "LinkEditingEncoder", "ModelConfig"]
