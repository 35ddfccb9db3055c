"""Chat-model backends behind the protocol in :mod:`automem.core`."""

from automem.models.registry import ModelSpec, load_model, parse_spec, register_backend
from automem.models.scripted import ScriptedChatModel, ScriptedModel, ScriptedReply

__all__ = [
    "ModelSpec",
    "ScriptedChatModel",
    "ScriptedModel",
    "ScriptedReply",
    "load_model",
    "parse_spec",
    "register_backend",
]
