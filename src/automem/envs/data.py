"""Whether environments have the data sets they need, asked before a run creates anything.

An environment class says what it lacks through :meth:`automem.core.TextEnv.missing_data`;
factories that are not such classes need no data.
"""

from __future__ import annotations

from collections.abc import Iterable

from automem.core import MissingData
from automem.envs.registry import spec


def missing_data(env_id: str) -> MissingData | None:
    """The data set ``env_id`` (with its registered kwargs) needs and cannot find, else None."""
    env_spec = spec(env_id)
    check = getattr(env_spec.load(), "missing_data", None)
    return check(**env_spec.kwargs) if callable(check) else None


def missing_by_env(env_ids: Iterable[str]) -> dict[str, MissingData]:
    """The envs among ``env_ids`` whose data is missing, with what they lack (in order)."""
    return {env: missing for env in env_ids if (missing := missing_data(env)) is not None}


def missing_message(missing: dict[str, MissingData]) -> str:
    """One line for all of them: envs lacking the same data set share its fix."""
    groups: dict[MissingData, list[str]] = {}
    for env, data in missing.items():
        groups.setdefault(data, []).append(env)
    return " ".join(
        data.message(", ".join(envs), several=len(envs) > 1) for data, envs in groups.items()
    )


__all__ = ["missing_by_env", "missing_data", "missing_message"]
