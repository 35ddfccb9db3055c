"""A registry of text environments: ids map to entry points, ``make(id)`` builds one.

Built-in games register themselves here; users register their own with :func:`register`
(an entry point ``"package.module:Class"`` or any callable returning a :class:`TextEnv`).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from automem.core import TextEnv

EnvFactory = Callable[..., TextEnv]


@dataclass(frozen=True)
class EnvSpec:
    env_id: str
    entry_point: str | EnvFactory
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def load(self) -> EnvFactory:
        if callable(self.entry_point):
            return self.entry_point
        module_name, _, attr = self.entry_point.partition(":")
        if not attr:
            raise ValueError(
                f"entry point {self.entry_point!r} must look like 'package.module:Class'"
            )
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[str, EnvSpec] = {}


def register(
    env_id: str,
    entry_point: str | EnvFactory,
    *,
    description: str = "",
    overwrite: bool = False,
    **kwargs: Any,
) -> EnvSpec:
    """Register a text environment under ``env_id``; ``kwargs`` are passed to the factory.

    The built-in games are registered first, so that a name they use is taken (unless
    ``overwrite``) whether or not anything was looked up before.
    """
    _register_builtins()
    if env_id in _REGISTRY and not overwrite:
        raise ValueError(f"environment {env_id!r} is already registered (pass overwrite=True)")
    spec = EnvSpec(env_id, entry_point, dict(kwargs), description)
    _REGISTRY[env_id] = spec
    return spec


def spec(env_id: str) -> EnvSpec:
    _register_builtins()
    try:
        return _REGISTRY[env_id]
    except KeyError:
        family = sorted(k for k in _REGISTRY if k.startswith(f"{env_id}/"))
        if family:  # a game with several tasks, e.g. "minihack"
            raise ValueError(
                f"{env_id!r} has several environments; pick one: {', '.join(family)}"
            ) from None
        close = difflib.get_close_matches(env_id, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown environment {env_id!r}.{hint} Known: {known}") from None


def make(env_id: str, **overrides: Any) -> TextEnv:
    """Build the environment registered as ``env_id``; ``overrides`` replace registered kwargs."""
    env_spec = spec(env_id)
    return env_spec.load()(**{**env_spec.kwargs, **overrides})


def is_builtin(env_id: str) -> bool:
    """Whether ``env_id`` is registered as automem itself registers it (every worker knows it)."""
    _register_builtins()
    return env_id in _BUILTIN and _REGISTRY.get(env_id) is _BUILTIN[env_id]


def registered() -> list[EnvSpec]:
    _register_builtins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


_builtins_done = False
_BUILTIN: dict[str, EnvSpec] = {}


def _register_builtins() -> None:
    # Imported lazily so that `import automem` never pulls in game packages.
    global _builtins_done
    if _builtins_done:
        return
    _builtins_done = True  # set first: the module's own register() calls come back here
    before = dict(_REGISTRY)
    try:
        importlib.import_module("automem.envs.builtin")  # registers on import
    except BaseException:
        _builtins_done = False
        raise
    _BUILTIN.update((k, v) for k, v in _REGISTRY.items() if before.get(k) is not v)
