"""The deterministic selection signals, one idea per module (see each module's rule)."""

from types import ModuleType

from automem.train.signals import (
    consistent,
    contradicted,
    empty_read,
    empty_search,
    redundant,
    refused,
    repeated_read,
    retrieved,
    unparseable,
)
from automem.train.signals.base import Hit, SignalParams

SIGNALS: tuple[ModuleType, ...] = (
    retrieved,
    consistent,
    redundant,
    empty_search,
    empty_read,
    repeated_read,
    refused,
    unparseable,
    contradicted,
)
BY_NAME: dict[str, ModuleType] = {s.NAME: s for s in SIGNALS}

__all__ = ["BY_NAME", "SIGNALS", "Hit", "SignalParams"]
