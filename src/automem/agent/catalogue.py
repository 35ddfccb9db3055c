"""The helper catalogue: what each registered helper does, for which games, with which parameters.

Built from the helpers themselves (docstring, ``games``, ``Params``), so it cannot drift from
the code. Loop 1's reviewer reads it to switch helpers on and tune them as data; ``automem
scaffold helpers`` prints it.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from automem.agent.helpers import helper_class, helper_names


def helper_entry(name: str) -> dict[str, Any]:
    """One helper: ``name``, ``summary``, ``description``, ``games`` ([] = any) and ``params``.

    ``params`` is the JSON schema of the helper's parameter model (types, defaults, bounds and
    a description of every parameter).
    """
    cls = helper_class(name)
    paragraphs = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
    return {
        "name": name,
        "summary": " ".join(paragraphs[0].split()),
        "description": " ".join(" ".join(paragraphs[1:]).split()),
        "games": list(getattr(cls, "games", ())),
        "params": cls.Params.model_json_schema(),
    }


def helper_catalogue(game: str | None = None) -> list[dict[str, Any]]:
    """Every registered helper's entry (:func:`helper_entry`), sorted by name.

    With ``game``, only the helpers that apply to it (those for any game included).
    """
    entries = [helper_entry(name) for name in helper_names()]
    return [e for e in entries if game is None or not e["games"] or game in e["games"]]


def catalogue_text(entries: list[dict[str, Any]]) -> str:
    """The catalogue as plain text: one block per helper with its parameters."""
    blocks = []
    for entry in entries:
        games = ", ".join(entry["games"]) or "any game"
        lines = [f"{entry['name']} ({games}): {entry['summary']}"]
        if entry["description"]:
            lines.append(f"  {entry['description']}")
        for param, schema in entry["params"].get("properties", {}).items():
            lines.append(f"  - {param}{_constraints(schema)}: {schema.get('description', '')}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    kind = schema.get("type") or " or ".join(
        s.get("type", "?") for s in schema.get("anyOf", []) if isinstance(s, dict)
    )
    if kind:
        parts.append(kind)
    choices = schema.get("enum") or schema.get("items", {}).get("enum")
    if choices:
        parts.append("of " + "|".join(str(c) for c in choices))
    for key, word in (("minimum", ">="), ("maximum", "<=")):
        if key in schema:
            parts.append(f"{word} {schema[key]}")
    if "default" in schema:
        parts.append(f"default {json.dumps(schema['default'])}")
    return f" ({', '.join(parts)})" if parts else ""
