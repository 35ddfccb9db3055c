"""Structural differences between two scaffolds: what loop 1 counts as a real revision.

Structural: initial memory files added, removed or renamed; the ops of either phase; helpers
switched on or off or their parameters changed; routine settings (turn caps, history window,
sampling, ...); memory limits. Not structural: template wording, op help text, descriptions,
file purposes and pre-filled contents, and the lineage fields (name, parent).
"""

from __future__ import annotations

from typing import Any

from automem.agent.helpers import validate_helpers
from automem.scaffold import Scaffold


def structural_changes(parent: Scaffold, child: Scaffold) -> list[str]:
    """One line per structural difference of ``child`` from ``parent`` ([] = wording only)."""
    return [
        *_file_changes(parent, child),
        *_vocabulary_changes(parent, child),
        *_helper_changes(parent, child),
        *_settings_changes("routine", parent.routine.model_dump(), child.routine.model_dump()),
        *_settings_changes("limits", parent.limits.model_dump(), child.limits.model_dump()),
    ]


def _file_changes(parent: Scaffold, child: Scaffold) -> list[str]:
    before, after = parent.initial_files, child.initial_files
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    changes = []
    for name in list(removed):  # a removed file whose content reappears under a new name
        twin = next((n for n in added if after[n] == before[name]), None)
        if twin is not None:
            changes.append(f"files: {name!r} renamed to {twin!r}")
            removed.remove(name)
            added.remove(twin)
    changes += [f"files: {name!r} removed" for name in removed]
    changes += [f"files: {name!r} added" for name in added]
    return changes


def _vocabulary_changes(parent: Scaffold, child: Scaffold) -> list[str]:
    changes = []
    for phase in ("log", "plan"):
        before, after = set(parent.vocabulary.ops(phase)), set(child.vocabulary.ops(phase))
        if before != after:
            parts = [f"+{op}" for op in sorted(after - before)]
            parts += [f"-{op}" for op in sorted(before - after)]
            changes.append(f"vocabulary.{phase}: {' '.join(parts)}")
    return changes


def _helper_changes(parent: Scaffold, child: Scaffold) -> list[str]:
    before, after = _helper_params(parent), _helper_params(child)
    changes = [f"helpers: {name!r} switched off" for name in before if name not in after]
    for name, params in after.items():
        if name not in before:
            changes.append(f"helpers: {name!r} switched on")
        elif params != before[name]:
            changes.append(f"helpers: {name!r} params changed")
    return changes


def _helper_params(scaffold: Scaffold) -> dict[str, dict[str, Any]]:
    """Each helper's parameters as validated, so a default written out equals one left out."""
    validated = validate_helpers(scaffold.helpers)
    return {
        config.name: params.model_dump(mode="json")
        for config, (_, params) in zip(scaffold.helpers, validated, strict=True)
    }


def _settings_changes(section: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{section}.{key}: {before[key]!r} -> {after[key]!r}"
        for key in before
        if before[key] != after[key]
    ]
