"""Text environments: the registry and the built-in games."""

from automem.envs.data import missing_by_env, missing_data, missing_message
from automem.envs.registry import EnvSpec, make, register, registered, spec

__all__ = [
    "EnvSpec",
    "make",
    "missing_by_env",
    "missing_data",
    "missing_message",
    "register",
    "registered",
    "spec",
]
