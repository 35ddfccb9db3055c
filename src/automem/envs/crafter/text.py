"""Crafter state -> text, in the format of the BALROG benchmark's Crafter language wrapper.

The text is built straight from the world's material and object maps (no image is rendered):

* an optional notice (``You are sleeping, ...`` / ``You died.``) and four newlines;
* ``You see:`` with one line per material or creature type in the local view, only the closest
  of each type, in the order the view is scanned (west to east, then north to south within a
  column), e.g. ``- tree 2 steps to your north-west`` (Manhattan distance);
* ``You face X at your front.``;
* ``Your status:`` with the four vitals as ``n/9`` and the non-zero inventory: the short-term
  part of the observation (:class:`automem.core.Observation`), as the benchmark's
  ``short_term_context``.

As in BALROG's current defaults (``unique_items=True``, ``precise_location=False``, no skipped
items, no edge-only items), grass, sand and path are listed like any other material.
The local view is the part of crafter's view grid that the image shows as terrain: for the
default 9x9 view that is 9 cells wide and 7 high (the bottom rows hold the inventory).
"""

from __future__ import annotations

import math
from typing import Any

from crafter import constants

VITALS: tuple[str, ...] = ("health", "food", "drink", "energy")
SLEEPING_NOTICE = "You are sleeping, and will not be able take actions until energy is full."
DEAD_NOTICE = "You died."


def local_grid(view: tuple[int, int]) -> tuple[int, int]:
    """The terrain part of crafter's ``view`` grid: crafter keeps the bottom rows for items."""
    item_rows = math.ceil(len(constants.items) / view[0])
    return view[0], view[1] - item_rows


def object_name(obj: Any) -> str:
    """``Cow`` -> ``cow``: the name BALROG derives from the object's class."""
    return type(obj).__name__.lower()


def describe_offset(dx: int, dy: int) -> str:
    """``2 steps to your north-west`` for an offset (x grows east, y grows south)."""
    parts = []
    if dy < 0:
        parts.append("north")
    elif dy > 0:
        parts.append("south")
    if dx < 0:
        parts.append("west")
    elif dx > 0:
        parts.append("east")
    distance = abs(dx) + abs(dy)
    return f"{distance} step{'s' if distance > 1 else ''} to your {'-'.join(parts)}"


def _name_at(world: Any, x: int, y: int) -> str | None:
    """What the semantic map shows at (x, y): the object there, else the material."""
    index = int(world._obj_map[x, y])
    if index:
        return object_name(world._objects[index])
    return world._mat_names[int(world._mat_map[x, y])]


def describe_surroundings(world: Any, player: Any, grid: tuple[int, int]) -> str:
    """The ``You see:`` block and the ``You face ...`` line for the player's local view."""
    width, height = grid
    px, py = int(player.pos[0]), int(player.pos[1])
    x0, y0 = px - width // 2, py - height // 2
    area_w, area_h = int(world.area[0]), int(world.area[1])
    xa, xb = max(x0, 0), min(x0 + width, area_w)
    ya, yb = max(y0, 0), min(y0 + height, area_h)

    closest: dict[str, tuple[int, int, int]] = {}
    if xa < xb and ya < yb:
        materials = world._mat_map[xa:xb, ya:yb].tolist()
        indices = world._obj_map[xa:xb, ya:yb].tolist()
        names = world._mat_names
        objects = world._objects
        for i, (mat_column, obj_column) in enumerate(zip(materials, indices, strict=True)):
            dx = xa + i - px
            for j, (mat, index) in enumerate(zip(mat_column, obj_column, strict=True)):
                dy = ya + j - py
                if index:
                    obj = objects[index]
                    if obj is player:
                        continue
                    name = object_name(obj)
                else:
                    name = names[mat]
                    if name is None:
                        continue
                distance = abs(dx) + abs(dy)
                best = closest.get(name)
                if best is None or distance < best[0]:
                    closest[name] = (distance, dx, dy)

    if closest:
        lines = [f"- {name} {describe_offset(dx, dy)}" for name, (_, dx, dy) in closest.items()]
        seen = "You see:\n" + "\n".join(lines)
    else:
        seen = "You see nothing away from you."

    return f"{seen}\n\nYou face {facing_name(world, player) or 'nothing'} at your front."


def facing_name(world: Any, player: Any) -> str | None:
    """What the player faces: the object there, else the material; None off the map."""
    tx, ty = int(player.pos[0] + player.facing[0]), int(player.pos[1] + player.facing[1])
    if 0 <= tx < int(world.area[0]) and 0 <= ty < int(world.area[1]):
        return _name_at(world, tx, ty)
    return None


def describe_inventory(inventory: dict[str, int]) -> str:
    """Vitals as ``n/9`` and the non-zero items, as BALROG writes them."""
    status = "\n".join(
        f"- {name}: {inventory[name]}/{constants.items[name]['max']}" for name in VITALS
    )
    items = [f"- {name}: {n}" for name, n in inventory.items() if name not in VITALS and n != 0]
    held = (
        "Your inventory:\n" + "\n".join(items) if items else "You have nothing in your inventory."
    )
    return f"Your status:\n{status}\n\n{held}"


def describe(world: Any, player: Any, grid: tuple[int, int]) -> tuple[str, str]:
    """The observation of the player's current state as (long-term text, short-term text).

    As in the benchmark, the long-term part is the notice and the view, the short-term part
    the status and inventory (its history shows them for the current observation only).
    """
    # The benchmark checks sleeping first: a player killed in its sleep (crafter wakes it
    # only on its own next update) still reads as sleeping. Its notice ends in two newlines
    # and is joined to the view by two more.
    if player.sleeping:
        notice = SLEEPING_NOTICE + "\n\n\n\n"
    elif player.health <= 0:
        notice = DEAD_NOTICE + "\n\n\n\n"
    else:
        notice = ""
    return notice + describe_surroundings(world, player, grid), describe_inventory(player.inventory)
