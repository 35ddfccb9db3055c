"""User components (helpers, model backends, environments) in every worker of a run.

A worker process (a spawned process-pool worker, a Ray worker) starts with only automem's
built-in registrations, so a helper registered by the user's script is unknown there. A run
therefore records, in its config: the plugin modules or ``.py`` files to import first
(``RunConfig.plugins``, the CLI's ``--plugin``), and every user-registered component it uses
with the import path of its class or factory (``RunConfig.components``, filled at run start).
Each worker imports the plugins, then registers every component again from its import path.
Only the user's own command line or code names plugins: a run directory never causes an import.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from automem import envs
from automem.agent.helpers import (
    Helper,
    helper_names,
    register_helper,
    unregister_helper,
    user_helper,
)
from automem.envs.registry import is_builtin
from automem.models.registry import parse_spec, register_backend, user_backend
from automem.runs.config import Component, RunConfig
from automem.scaffold import Scaffold

FIX = (
    "define it in an importable module (or a .py file given with --plugin) and register it "
    "from there"
)


class PluginError(ValueError):
    """A plugin or component a worker could not load; the message names it and the fix."""


@dataclass(frozen=True)
class PluginSet:
    """What a worker loads before its first episode (small and picklable)."""

    modules: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()

    @classmethod
    def of(cls, config: RunConfig) -> PluginSet:
        return cls(config.plugins, config.components)


# ---------------------------------------------------------------------- importing plugins


def is_file(entry: str) -> bool:
    """A plugin ending in ``.py`` or holding a ``/`` is a file path; anything else a module."""
    return entry.endswith(".py") or "/" in entry


def module_name(path: Path) -> str:
    """The module name a plugin file is loaded under: the same in every process."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    return f"_automem_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"


# plugin file's module name -> the helpers its import registered (name -> entry or class)
_FILE_HELPERS: dict[str, dict[str, str | type[Helper]]] = {}


def import_plugin(entry: str) -> ModuleType:
    """Import a plugin module (``pkg.mod``) or Python file (``path/file.py``) once.

    Plugin files may register helpers under the same name (an optimiser's attempts, each
    with its own ``code/`` folder, revising one helper): loading a file makes its own
    registrations current, also when it was imported before and another file's since.
    """
    if not is_file(entry):
        return _guarded(entry, lambda: importlib.import_module(entry))
    path = Path(entry).resolve()
    name = module_name(path)
    if name in sys.modules:
        for helper, found in _FILE_HELPERS.get(name, {}).items():
            register_helper(helper, found, overwrite=True)
        return sys.modules[name]
    if not path.is_file():
        raise PluginError(f"plugin file {entry} does not exist; give the path of a .py file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {entry} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it, so its classes can be found by name
    file_made = {h for made in _FILE_HELPERS.values() for h in made}
    others = {h: e for h in sorted(file_made) if (e := user_helper(h)) is not None}
    for helper in others:  # other files' helpers, as registered now: this file may replace them
        unregister_helper(helper)
    before = {h: user_helper(h) for h in helper_names()}
    try:
        _guarded(entry, lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
    except PluginError:
        del sys.modules[name]
        raise
    finally:
        for helper, found in others.items():
            if user_helper(helper) is None:  # not registered by this file: as it was
                register_helper(helper, found, overwrite=True)
    _FILE_HELPERS[name] = {
        h: found
        for h in helper_names()
        if (found := user_helper(h)) is not None and before.get(h) != found
    }
    return module


def _guarded(entry: str, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except ImportError as exc:
        raise PluginError(f"plugin {entry!r} cannot be imported: {exc}") from exc
    except Exception as exc:  # the plugin's own code failed: say so, keep the traceback
        raise PluginError(
            f"plugin {entry!r} failed on import: {type(exc).__name__}: {exc}"
        ) from exc


def load_plugins(entries: Sequence[str]) -> None:
    for entry in entries:
        import_plugin(entry)


# ---------------------------------------------------------------------- recording components


def reference(obj: Any) -> str:
    """``module:qualname`` of a class or function."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname:
        raise PluginError(
            f"{obj!r} has no import path; register a class or a module-level function"
        )
    return f"{module}:{qualname}"


def resolve(ref: str) -> Any:
    module, _, qualname = ref.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def used_components(config: RunConfig, scaffolds: Iterable[Scaffold]) -> tuple[Component, ...]:
    """The non-built-in helpers, backend and environments the run uses, with import paths."""
    found: list[Component] = []
    for helper in sorted({h.name for s in scaffolds for h in s.helpers}):
        entry = user_helper(helper)
        if entry is not None:
            ref = entry if isinstance(entry, str) else reference(entry)
            found.append(Component(kind="helper", name=helper, ref=ref))
    for backend in sorted({parse_spec(spec).backend for _, spec in config.roles.items()}):
        if (factory := user_backend(backend)) is not None:
            found.append(Component(kind="backend", name=backend, ref=reference(factory)))
    for task in config.tasks:
        if is_builtin(task.env):
            continue
        spec = envs.spec(task.env)
        point = spec.entry_point
        ref = point if isinstance(point, str) else reference(point)
        try:
            json.dumps(spec.kwargs)
        except TypeError:
            raise PluginError(
                f"environment {task.env!r} is registered with keyword arguments run.json "
                f"cannot record ({sorted(spec.kwargs)}); use JSON values (numbers, strings, "
                "lists, dicts)"
            ) from None
        found.append(Component(kind="env", name=task.env, ref=ref, kwargs=dict(spec.kwargs)))
    return tuple(found)


def prepare(config: RunConfig, scaffolds: Iterable[Scaffold], *, workers: bool) -> RunConfig:
    """The config as the run stores it: plugin files as absolute paths, components recorded.

    ``workers``: episodes run in other processes, so each component must be importable
    there; a class defined in ``__main__`` or inside a function fails here, before anything
    runs.
    """
    modules = tuple(str(Path(p).resolve()) if is_file(p) else p for p in config.plugins)
    components = used_components(config, scaffolds)
    if workers:
        for component in components:
            check_importable(component)
    return config.model_copy(update={"plugins": modules, "components": components})


def check_importable(component: Component) -> None:
    what = f"{component.kind} {component.name!r} ({component.ref})"
    module, _, qualname = component.ref.partition(":")
    if module in ("__main__", "__mp_main__"):
        raise PluginError(
            f"{what} is defined in __main__, which worker processes cannot import; {FIX}"
        )
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise PluginError(
            f"{what} is defined inside a function or as a lambda, which worker processes "
            f"cannot import; {FIX}"
        )
    try:
        resolve(component.ref)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{what} cannot be found by its import path ({exc}); {FIX}") from None


# ---------------------------------------------------------------------- in a worker

_ACTIVE: list[PluginSet] = []


def activate(plugins: PluginSet) -> None:
    """Import the plugins, then register every component again (once per process)."""
    if plugins in _ACTIVE:
        return
    load_plugins(plugins.modules)
    for component in plugins.components:
        _register(component)
    _ACTIVE.append(plugins)


def _register(component: Component) -> None:
    try:
        found = resolve(component.ref)
    except (ImportError, AttributeError) as exc:
        raise PluginError(
            f"{component.kind} {component.name!r}: cannot import {component.ref} in a worker "
            f"({exc}); {FIX}"
        ) from None
    if component.kind == "helper":
        register_helper(component.name, found, overwrite=True)
    elif component.kind == "backend":
        register_backend(component.name, found)
    else:
        envs.registered()  # the built-ins first, so they never clash with this registration
        envs.register(component.name, found, overwrite=True, **component.kwargs)
