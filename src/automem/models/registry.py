"""Model specs resolved to a :class:`ChatModel`.

A spec is ``backend[:name][,key=value...]``: ``scripted``, ``scripted:slip=0.2``,
``openai:gpt-4o,base_url=http://127.0.0.1:8000/v1``. The name is the backend's model name
(or path); options are backend settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from automem.core import ChatModel

ModelFactory = Callable[["ModelSpec", int], ChatModel]


@dataclass(frozen=True)
class ModelSpec:
    text: str
    backend: str
    name: str | None
    options: dict[str, str]


def _scripted(spec: ModelSpec, seed: int) -> ChatModel:
    from automem.models.scripted import ScriptedModel

    if spec.name is not None:
        raise ValueError(f"model spec {spec.text!r}: the scripted model takes no name")
    options = spec.options
    unknown = set(options) - {"slip"}
    if unknown:
        raise ValueError(
            f"model spec {spec.text!r}: unknown option(s) {sorted(unknown)}; known: slip"
        )
    try:
        slip = float(options.get("slip", "0.1"))
    except ValueError:
        raise ValueError(f"model spec {spec.text!r}: slip must be a number") from None
    return ScriptedModel(seed, slip_rate=slip, spec=spec.text)


_BACKENDS: dict[str, ModelFactory] = {"scripted": _scripted}


def register_backend(name: str, factory: ModelFactory) -> None:
    """Make ``name:...`` specs resolve through ``factory(spec, seed)``."""
    _BACKENDS[name] = factory


def user_backend(name: str) -> ModelFactory | None:
    """The factory of a non-built-in backend; None for a built-in or unknown one."""
    factory = _BACKENDS.get(name)
    return None if factory is None or _BUILTIN.get(name) is factory else factory


def parse_spec(text: str) -> ModelSpec:
    """Split a spec into backend, optional name and ``key=value`` options."""
    backend, _, rest = text.partition(":")
    backend = backend.strip()
    if backend not in _BACKENDS:
        raise ValueError(
            f"unknown model backend {backend!r} in {text!r}; known: {', '.join(sorted(_BACKENDS))}"
        )
    names: list[str] = []
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if eq:
            options[key.strip()] = value.strip()
        else:
            names.append(part)
    if len(names) > 1:
        raise ValueError(
            f"model spec {text!r}: one model name expected, got {names}; "
            "options are written key=value"
        )
    return ModelSpec(text, backend, names[0] if names else None, options)


def load_model(spec: str, *, seed: int = 0) -> ChatModel:
    """Build the model a spec names. ``seed`` makes seeded backends reproducible per episode."""
    parsed = parse_spec(spec)
    return _BACKENDS[parsed.backend](parsed, seed)


def _openai(spec: ModelSpec, seed: int) -> ChatModel:
    from automem.models.openai_chat import from_spec  # imports httpx only when used

    return from_spec(spec, seed)


def _anthropic(spec: ModelSpec, seed: int) -> ChatModel:
    from automem.models.anthropic_messages import from_spec

    return from_spec(spec, seed)


register_backend("openai", _openai)
register_backend("anthropic", _anthropic)
_BACKENDS["local"] = lambda s, n: __import__("automem.models.local").models.local.factory(s, n)
_BUILTIN = dict(_BACKENDS)  # what every fresh process (a worker) knows without plugins
