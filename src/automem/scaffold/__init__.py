"""Scaffolds as data: the validated model, built-in v0 scaffolds, loading and diffing."""

from automem.scaffold.io import (
    ScaffoldError,
    builtin_names,
    default_for_game,
    diff,
    dump,
    load,
    parse,
    save,
    validate_text,
)
from automem.scaffold.model import (
    HelperConfig,
    MemoryFile,
    Prompts,
    Routine,
    Scaffold,
    Vocabulary,
)

__all__ = [
    "HelperConfig",
    "MemoryFile",
    "Prompts",
    "Routine",
    "Scaffold",
    "ScaffoldError",
    "Vocabulary",
    "builtin_names",
    "default_for_game",
    "diff",
    "dump",
    "load",
    "parse",
    "save",
    "validate_text",
]
