"""A plain, slow reading of the language-observation algorithm, to check the fast one against.

It follows the steps in :mod:`automem.envs.nethack.language`'s docstring cell by cell, with no
precomputed tables, so that a mistake in the fast path's position tables, ray slicing, sort
keys or grouping shows up as a different text on some game state.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np

from automem.envs.nethack import language as L

MOVES = ("north", "east", "south", "west", "northeast", "southeast", "southwest", "northwest")
RAYS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))  # dy points south


@cache
def _names() -> tuple[list[str], list[str]]:
    from nle import nethack

    return L._glyph_names(nethack)


def describe(glyphs: np.ndarray, x: int, y: int) -> str:
    """The language observation of a (21, 79) glyph grid with the player at (x, y)."""
    rows, cols = glyphs.shape
    if not (0 <= x < cols and 0 <= y < rows):
        return ""
    screen, ray = _names()
    seen: list[tuple[int, int, str]] = []  # (dx east, dy north, name) in scan order
    for cy in range(rows):
        for cx in range(cols):
            name = screen[int(glyphs[cy, cx])]
            if name and (cx, cy) != (x, y):
                seen.append((cx - x, y - cy, name))
    for dx, dy in RAYS:
        for k in range(1, 10):
            cx, cy = x + dx * k, y + dy * k
            if not (0 <= cx < cols and 0 <= cy < rows):
                break
            name = ray[int(glyphs[cy, cx])]
            if name:
                seen.append((cx - x, y - cy, name))
                if name in L.BLOCKING:
                    break

    worded = [(*L.position_words(dx, dn), name) for dx, dn, name in seen]
    worded.sort(key=lambda e: (L.DISTANCES.index(e[0]), L.DIRECTIONS.index(e[1])))
    groups: dict[tuple[str, str], list[str]] = {}
    for distance, direction, name in worded:
        groups.setdefault((name, distance), []).append(direction)

    keys: list[tuple[str, str]] = []
    texts: dict[tuple[str, str], str] = {}  # the reference prints each key's last text
    for (name, distance), directions in groups.items():
        counts = Counter(directions)
        distinct = list(dict.fromkeys(directions))
        once = [d for d in distinct if counts[d] == 1]
        several = [d for d in distinct if counts[d] > 1]
        for noun, listed in ((name, once), (L.pluralize(name), several)):
            if listed:
                keys.append((noun, distance))
                texts[(noun, distance)] = f"{noun} {distance} {_join(listed)}"
    return "\n".join(texts[k] for k in keys)


def _join(items: list[str]) -> str:
    if len(items) < 3:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]
