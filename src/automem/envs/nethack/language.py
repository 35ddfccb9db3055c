"""The benchmark's language view of NetHack and MiniHack observations, from raw NLE arrays.

BALROG describes NLE observations with the ``nle_language_obsv`` module of
nle-language-wrapper; these functions are our own implementation of the same texts:

* :func:`text_glyphs` - the "language observation": what is on the map, grouped by name and
  distance, e.g. ``horizontal wall very near north, northeast, and south``;
* :func:`text_cursor` - what is under the terminal cursor (``Yourself a samurai``);
* :func:`text_message` - the message line, or a whole menu / multi-page text;
* :func:`text_inventory` - ``letter: item`` lines;
* :func:`hybrid_text` / :func:`inventory_text` - BALROG's "hybrid" layout for text-only models.

How the language observation is built (NetHack 3.6 glyphs, as in NLE 1.x):

1. Every map cell whose glyph is a monster, object, statue, warning, beam, explosion or one
   of the notable dungeon features (stairs, doors when closed, fountains, altars, lava, ...)
   is listed, in row-major order, except the player's own cell.
2. Walls, doorways, open doors, traps, dark areas and the like are only listed when seen
   along the 8 compass rays from the player (up to 9 cells); a ray stops at the first wall,
   closed door, raised drawbridge or dark area. Floors and listed glyphs of step 1 are passed.
3. Each cell gets a distance word from its Chebyshev distance (1 adjacent, 2 very near, 3-5
   near, 6-19 far, 20+ very far) and one of 16 directions: the diagonal part (as many
   diagonal steps as possible) prefixed by the remaining straight part, e.g. 3 east and
   1 north is ``eastnortheast``.
4. Entries are sorted by distance (very far first) then direction (north clockwise),
   keeping the scan order within ties; then grouped per (name, distance): directions that
   occur once are listed with the singular name, directions with several cells of the same
   name use the plural (``area of lava near eastsoutheast``). Lists read ``a``,
   ``a and b``, ``a, b, and c``.

The naming quirks of the reference are kept on purpose so that the texts match it exactly
(e.g. ``alter`` for altars, glyph descriptions of objects' unshuffled appearance).
Everything is precomputed per glyph and per relative position, so one description costs
tens of microseconds.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ROWS, COLS = 21, 79  # the NLE dungeon (glyphs) shape
DISTANCES = ("very far", "far", "near", "very near", "adjacent")
DIRECTIONS = (
    "north",
    "northnortheast",
    "northeast",
    "eastnortheast",
    "east",
    "eastsoutheast",
    "southeast",
    "southsoutheast",
    "south",
    "southsouthwest",
    "southwest",
    "westsouthwest",
    "west",
    "westnorthwest",
    "northwest",
    "northnorthwest",
)
_DIRECTION_RANK = {name: i for i, name in enumerate(DIRECTIONS)}
_DISTANCE_RANK = {name: i for i, name in enumerate(DISTANCES)}

# Rays of the visual view, in the reference's order, as (dx, dy) with dy pointing south.
_RAYS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
_RAY_LENGTH = 9

# Names of NetHack 3.6 map symbols (defsyms order) as the reference spells them.
CMAP_NAMES: tuple[str, ...] = (
    "dark area",
    "vertical wall",
    "horizontal wall",
    "northwest room corner",
    "northeast room corner",
    "southwest corner",
    "southeast corner",
    "cross wall",
    "t up wall",
    "t down wall",
    "t west wall",
    "t east wall",
    "doorway",
    "vertical open door",
    "horizontal open door",
    "vertical closed door",
    "horizontal closed door",
    "bars",
    "tree",
    "room floor",
    "dark room floor",
    "corridor floor",
    "lit corridor floor",
    "stairs up",
    "stairs down",
    "ladder up",
    "ladder down",
    "alter",
    "grave",
    "throne",
    "sink",
    "fountain",
    "pool",
    "ice",
    "lava",
    "vertical lowered drawbridge",
    "horizontal lowered drawbridge",
    "vertical raised drawbridge",
    "horizontal raised drawbridge",
    "air floor",
    "cloud floor",
    "water floor",
    "arrow trap",
    "dart trap",
    "falling rock trap",
    "squeaky board",
    "bear trap",
    "land mine",
    "rolling boulder trap",
    "sleeping gas trap",
    "rust trap",
    "fire trap",
    "pit",
    "spiked pit",
    "hole",
    "trap door",
    "teleportation trap",
    "level teleporter",
    "magic portal",
    "web",
    "statue trap",
    "magic trap",
    "anti magic trap",
    "polymorph trap",
    "vibrating square",
    "vertical beam",
    "horizontal beam",
    "left slant beam",
    "right slant beam",
    "dig beam",
    "flash beam",
    "boom left",
    "boom right",
    "shield 1",
    "shield 2",
    "shield 3",
    "shield 4",
    "poison cloud",
    "valid position",
    "swallow top left",
    "swallow top center",
    "swallow top right",
    "swallow middle left",
    "swallow middle right",
    "swallow bottom left",
    "swallow bottom center",
    "swallow bottom right",
    "explosion top left",
    "explosion top center",
    "explosion top right",
    "explosion middle left",
    "explosion middle center",
    "explosion middle right",
    "explosion bottom left",
    "explosion bottom center",
    "explosion bottom right",
)
# Slices of CMAP_NAMES, by the symbols' order in NetHack's defsyms.
_WALLS = CMAP_NAMES[0:12]  # stone ("dark area") and the walls
_CLOSED_DOORS, _DOORS_BARS_TREES = CMAP_NAMES[15:17], CMAP_NAMES[15:19]
_RAISED_DRAWBRIDGES = CMAP_NAMES[37:39]
FLOORS = frozenset(CMAP_NAMES[19:23])
# Map features listed wherever they are on screen (the others only along the rays): closed
# doors, bars, trees, stairs to lava (23-34) and raised drawbridges.
SCREEN_FEATURES = frozenset(_DOORS_BARS_TREES + CMAP_NAMES[23:35] + _RAISED_DRAWBRIDGES)
# Features that stop a ray.
BLOCKING = frozenset(_WALLS + _CLOSED_DOORS + _RAISED_DRAWBRIDGES)
ZAP_NAMES = (
    "horizontal zap beam",
    "vertical zap beam",
    "left slant zap beam",
    "right slant zap beam",
)
SWALLOW_NAMES = CMAP_NAMES[79:87]
EXPLOSION_NAMES = CMAP_NAMES[87:96]
WARNING_NAMES = tuple(
    f"unknown creature causing you {w}"
    for w in ("worry", "concern", "anxiety", "disquiet", "alarm", "dread")
)

_WS = b" \x1a"  # what the reference trims from message lines


# --------------------------------------------------------------------------- glyph tables


def _object_name(index: int, nh: Any) -> str:
    descr = nh.objdescr.from_idx(index)
    name, look = descr.oc_name or "", descr.oc_descr or ""
    klass = ord(nh.objclass(index).oc_class)
    if klass in (
        nh.ILLOBJ_CLASS,
        nh.WEAPON_CLASS,
        nh.COIN_CLASS,
        nh.ROCK_CLASS,
        nh.BALL_CLASS,
        nh.CHAIN_CLASS,
    ):
        return name
    if klass in (nh.ARMOR_CLASS, nh.TOOL_CLASS):
        return look or name
    if klass == nh.RING_CLASS:
        return f"{look} ring"
    if klass == nh.AMULET_CLASS:
        return look if "Amulet" in look else f"{look} amulet"
    if klass == nh.FOOD_CLASS:
        return name + look
    if klass == nh.POTION_CLASS:
        return f"{look} potion"
    if klass == nh.SCROLL_CLASS:
        return f"scroll labeled {look}"
    if klass == nh.SPBOOK_CLASS:
        return f"{look} spellbook"
    if klass == nh.WAND_CLASS:
        return f"{look} wand"
    if klass == nh.GEM_CLASS:
        return name if look in name else f"{look} {name}"
    if klass == nh.VENOM_CLASS:
        return f"splash of {name}"
    return ""


def _glyph_names(nh: Any) -> tuple[list[str], list[str]]:
    """(screen names, ray names) for every glyph; an empty name means "not listed"."""
    monsters = [nh.permonst(i).mname for i in range(nh.NUMMONS)]
    objects = [_object_name(i, nh) for i in range(nh.NUM_OBJECTS)]
    screen: list[str] = []
    ray: list[str] = []
    for glyph in range(nh.MAX_GLYPH):
        seen = ""
        if glyph >= nh.GLYPH_STATUE_OFF:
            name = f"{monsters[glyph - nh.GLYPH_STATUE_OFF]} statue"
        elif glyph >= nh.GLYPH_WARNING_OFF:
            name = WARNING_NAMES[glyph - nh.GLYPH_WARNING_OFF]
        elif glyph >= nh.GLYPH_SWALLOW_OFF:
            name = SWALLOW_NAMES[(glyph - nh.GLYPH_SWALLOW_OFF) % 8]
        elif glyph >= nh.GLYPH_ZAP_OFF:
            name = ZAP_NAMES[(glyph - nh.GLYPH_ZAP_OFF) % 4]
        elif glyph >= nh.GLYPH_EXPLODE_OFF:
            name = EXPLOSION_NAMES[(glyph - nh.GLYPH_EXPLODE_OFF) % 9]
        elif glyph >= nh.GLYPH_CMAP_OFF:
            cmap = CMAP_NAMES[glyph - nh.GLYPH_CMAP_OFF]
            name = cmap if cmap in SCREEN_FEATURES else ""
            seen = cmap if cmap not in SCREEN_FEATURES and cmap not in FLOORS else ""
        elif glyph >= nh.GLYPH_OBJ_OFF:
            name = objects[glyph - nh.GLYPH_OBJ_OFF]
        elif glyph >= nh.GLYPH_RIDDEN_OFF:
            name = f"ridden {monsters[glyph - nh.GLYPH_RIDDEN_OFF]}"
        elif glyph >= nh.GLYPH_BODY_OFF:
            name = f"{monsters[glyph - nh.GLYPH_BODY_OFF]} corpse"
        elif glyph >= nh.GLYPH_DETECT_OFF:
            name = f"detected {monsters[glyph - nh.GLYPH_DETECT_OFF]}"
        elif glyph >= nh.GLYPH_INVIS_OFF:
            name = "invisible creature"
        elif glyph >= nh.GLYPH_PET_OFF:
            name = f"tame {monsters[glyph - nh.GLYPH_PET_OFF]}"
        else:
            name = monsters[glyph]
        screen.append(name)
        ray.append("" if name else seen)
    return screen, ray


def pluralize(noun: str) -> str:
    """The reference's plural of a glyph name (used when several cells share a direction)."""
    for mass in ("boots", "shoes", "scales", "lenses", "bars"):
        if noun.endswith(mass):
            return noun
    exceptions = {
        "can of grease": "cans of grease",
        "Master of Thieves": "Masters of Thieves",
        "ice": "area of ice",
        "lava": "area of lava",
    }
    if noun in exceptions:
        return exceptions[noun]
    for prefix, plural in (
        ("boom ", "booms "),
        ("shield ", "shields "),
        ("swallow ", "swallows "),
        ("scroll ", "scrolls "),
        ("worthless piece ", "worthless pieces "),
        ("unknown creature ", "unknown creatures "),
    ):
        if noun.startswith(prefix):
            return plural + noun[len(prefix) :]
    if len(noun) < 2:
        return noun + "s"
    last, before = noun[-1], noun[-2]
    if last == "y" and before not in "aeiou":
        return noun[:-1] + "ies"
    # The reference's "ch" test reads outside the string and never matches: "ch" takes "s".
    if last in "zx" or (before == "s" and last in "hs"):
        return noun + "es"
    if last == "f":
        return noun[:-2] + "ves" if before == "f" else noun[:-1] + "ves"
    if last == "s":
        return noun + "es"
    return noun + "s"


def position_words(dx: int, dy_north: int) -> tuple[str, str]:
    """(distance, direction) words of a cell dx east and dy_north north of the player."""
    diagonal = min(abs(dx), abs(dy_north))
    corner = ""
    if diagonal > 0:
        if dy_north < 0:
            corner = "southwest" if dx < 0 else "southeast"
        else:
            corner = "northwest" if dx < 0 else "northeast"
    rest_y = dy_north - diagonal if dy_north > 0 else dy_north + diagonal
    rest_x = dx - diagonal if dx > 0 else dx + diagonal
    steps = max(abs(dx), abs(dy_north))
    if steps == 1:
        distance = "adjacent"
    elif steps == 2:
        distance = "very near"
    elif 2 < steps < 6:
        distance = "near"
    elif 5 < steps < 20:
        distance = "far"
    else:
        distance = "very far"
    north_south = "south" if rest_y < 0 else "north" if rest_y > 0 else ""
    east_west = "west" if rest_x < 0 else "east" if rest_x > 0 else ""
    return distance, north_south + east_west + corner


@dataclass(frozen=True)
class _Tables:
    screen_names: list[str]  # per glyph: its name where listed anywhere on screen, else ""
    names: list[str]  # per name id (0 is "": not listed)
    plurals: list[str]  # per name id
    name_id: list[int]  # per glyph
    # Per glyph: 0 not listed, _SCREEN listed anywhere on screen, _RAY listed along the
    # rays, _RAY | _BLOCK listed along the rays and stopping them.
    glyph_code: np.ndarray  # uint8[MAX_GLYPH]
    # Relative positions, indexed [dy + ROWS, dx + COLS] with dy pointing south.
    sort_key: np.ndarray  # uint8: distance rank * 16 + direction rank (_PLAYER_KEY at 0, 0)


_SCREEN, _RAY, _BLOCK = 1, 2, 4
_RAY_STOP = _RAY | _BLOCK
_PLAYER_KEY = 255  # sort keys run from 0 to 79: one byte each


@functools.cache
def tables() -> _Tables:
    """The glyph and position tables (built on first use, from ``nle.nethack``)."""
    from nle import nethack as nh

    screen, ray = _glyph_names(nh)
    code = np.zeros(nh.MAX_GLYPH, dtype=np.uint8)
    for glyph in range(nh.MAX_GLYPH):
        if screen[glyph]:
            code[glyph] = _SCREEN
        elif ray[glyph]:
            code[glyph] = _RAY | (_BLOCK if ray[glyph] in BLOCKING else 0)
    glyph_name = [s or r for s, r in zip(screen, ray, strict=True)]
    names = ["", *sorted(set(glyph_name) - {""})]
    ids = {name: i for i, name in enumerate(names)}
    key = np.full((2 * ROWS + 1, 2 * COLS + 1), _PLAYER_KEY, dtype=np.uint8)
    for dy in range(-ROWS, ROWS + 1):
        for dx in range(-COLS, COLS + 1):
            if dx or dy:
                distance, direction = position_words(dx, -dy)
                key[dy + ROWS, dx + COLS] = (
                    _DISTANCE_RANK[distance] * 16 + _DIRECTION_RANK[direction]
                )
    return _Tables(
        screen_names=screen,
        names=names,
        plurals=[pluralize(name) if name else "" for name in names],
        name_id=[ids[name] for name in glyph_name],
        glyph_code=code,
        sort_key=key,
    )


@dataclass(frozen=True)
class _Position:
    """What depends only on the player's cell: the sort keys of all cells and the 8 rays."""

    player: int  # the player's cell, row-major
    keys: bytes  # the sort key of every cell, row-major
    rays: tuple[tuple[slice, int, int], ...]  # (cells as a slice of the grid, first, stride)


def _on_map(x: int, y: int) -> bool:
    return 0 <= x < COLS and 0 <= y < ROWS


@functools.lru_cache(maxsize=ROWS * COLS)
def _position(x: int, y: int) -> _Position:
    key_grid = tables().sort_key
    keys = key_grid[ROWS - y : 2 * ROWS - y, COLS - x : 2 * COLS - x].tobytes()
    player = y * COLS + x
    rays = []
    for dx, dy in _RAYS:
        length = 0  # cells of the ray inside the map
        while length < _RAY_LENGTH and _on_map(x + dx * (length + 1), y + dy * (length + 1)):
            length += 1
        if length:
            stride = dy * COLS + dx
            end = player + stride * (length + 1)
            cells = slice(player + stride, end if end >= 0 else None, stride)
            rays.append((cells, player + stride, stride))
    return _Position(player=player, keys=keys, rays=tuple(rays))


# --------------------------------------------------------------------------- descriptions


def _join_directions(directions: Sequence[str]) -> str:
    if len(directions) == 1:
        return directions[0]
    if len(directions) == 2:
        return f"{directions[0]} and {directions[1]}"
    return ", ".join(directions[:-1]) + ", and " + directions[-1]


_DISTANCE_WORDS = tuple(f" {d} " for d in DISTANCES)
# " distance direction" of a sort key (distance rank * 16 + direction rank).
_SUFFIX = tuple(f" {DISTANCES[k >> 4]} {DIRECTIONS[k & 15]}" for k in range(len(DISTANCES) * 16))
_JOINED: dict[tuple[int, ...], str] = {}
_FIRST = operator.itemgetter(0)


def _directions_text(directions: list[int]) -> str:
    key = tuple(directions)
    text = _JOINED.get(key)
    if text is None:
        text = _JOINED[key] = _join_directions([DIRECTIONS[d] for d in directions])
    return text


def _last_line_per_key(
    lines: list[str], groups: dict[int, list[int]], plural_groups: dict[int, bool], t: _Tables
) -> list[str]:
    """The reference keys its lines by (name, distance) and prints each key's last text.

    This matters when a plural equals another line's name (mass nouns such as "boots"):
    every line of that key then reads the same. ``plural_groups`` tells, for each group with
    a plural line, whether it has a singular line before it.
    """
    line_keys: list[tuple[str, int]] = []
    for group in groups:
        name_id, distance = group >> 3, group & 7
        if plural_groups.get(group, True):
            line_keys.append((t.names[name_id], distance))  # the singular line
        if group in plural_groups:
            line_keys.append((t.plurals[name_id], distance))
    last = dict(zip(line_keys, lines, strict=True))
    return [last[k] for k in line_keys]


def text_glyphs(glyphs: np.ndarray, blstats: np.ndarray) -> str:
    """The language observation of the map (lines ``name distance directions``)."""
    return describe_map(np.asarray(glyphs).reshape(-1), int(blstats[0]), int(blstats[1]))


def describe_map(flat: np.ndarray, x: int, y: int) -> str:
    """:func:`text_glyphs` of the row-major glyphs ``flat`` with the player at (x, y).

    The per-cell work runs in C: one table lookup turns the glyphs into a byte string of
    codes, and ``bytes.find`` walks it (whole screen) and its strided slices (the rays).
    """
    t = tables()
    if not _on_map(x, y):
        return ""  # no player on the map (NLE zeroes blstats once the game is over)
    pos = _position(x, y)
    codes = t.glyph_code.take(flat).tobytes()
    listed: list[int] = []  # cells, in the order the reference lists them

    # 1. Listed glyphs anywhere on screen, row-major, skipping the player's cell.
    cell = codes.find(_SCREEN)
    while cell >= 0:
        if cell != pos.player:
            listed.append(cell)
        cell = codes.find(_SCREEN, cell + 1)

    # 2. Walls, doors, traps, ... along the 8 rays, each ray stopping at a blocking cell.
    for cells, first, stride in pos.rays:
        ray = codes[cells]
        stop = ray.find(_RAY_STOP)
        end = len(ray) if stop < 0 else stop
        i = ray.find(_RAY, 0, end)
        while i >= 0:
            listed.append(first + i * stride)
            i = ray.find(_RAY, i + 1, end)
        if stop >= 0:
            listed.append(first + stop * stride)
    if not listed:
        return ""

    # 3. Sort by distance then direction (stable), group per (name, distance).
    keys, name_id, glyph = pos.keys, t.name_id, memoryview(flat)
    entries = [(keys[cell], name_id[glyph[cell]]) for cell in listed]
    entries.sort(key=_FIRST)
    groups: dict[int, list[int]] = {}  # name id << 3 | distance rank -> direction ranks
    for key, name in entries:
        groups.setdefault(name << 3 | key >> 4, []).append(key & 15)

    # 4. Singular for directions seen once, plural for directions seen several times.
    names = t.names
    lines: list[str] = []
    plural_groups: dict[int, bool] = {}  # group -> whether it has a singular line too
    for group, directions in groups.items():
        if len(directions) == 1:
            lines.append(names[group >> 3] + _SUFFIX[(group & 7) << 4 | directions[0]])
            continue
        name, distance = names[group >> 3], _DISTANCE_WORDS[group & 7]
        counts = dict.fromkeys(directions, 0)
        for d in directions:
            counts[d] += 1
        if len(counts) == len(directions):
            lines.append(name + distance + _directions_text(directions))
            continue
        single = [d for d, n in counts.items() if n == 1]
        if single:
            lines.append(name + distance + _directions_text(single))
        several = [d for d, n in counts.items() if n > 1]
        lines.append(t.plurals[group >> 3] + distance + _directions_text(several))
        plural_groups[group] = bool(single)
    if plural_groups:
        lines = _last_line_per_key(lines, groups, plural_groups, t)
    return "\n".join(lines)


def text_cursor(glyphs: np.ndarray, blstats: np.ndarray, tty_cursor: np.ndarray) -> str:
    """What is under the terminal cursor, relative to the player (empty when off the map)."""
    return describe_cursor(
        np.asarray(glyphs).reshape(-1),
        int(blstats[0]),
        int(blstats[1]),
        int(tty_cursor[1]),
        int(tty_cursor[0]),
    )


def describe_cursor(flat: np.ndarray, x: int, y: int, column: int, row: int) -> str:
    """:func:`text_cursor` with the player at (x, y) and the cursor at terminal (column, row)."""
    cursor_y = row - 1  # map rows start below the message line
    dx, dy_north = column - x, y - cursor_y
    index = column + cursor_y * COLS
    if not (
        0 <= dx + COLS < 2 * COLS and 0 <= dy_north + ROWS < 2 * ROWS and 0 < index < flat.size
    ):
        return ""
    name = tables().screen_names[int(flat[index])]
    if dx == 0 and dy_north == 0:
        return "Yourself a " + name
    distance, direction = position_words(dx, dy_north)
    return f"{distance} {direction} {name}"


def _trim(line: bytes) -> bytes:
    start = len(line) - len(line.lstrip(_WS))
    if start == len(line) - 1:  # sic: a lone last character counts as blank
        return b""
    return line.strip(_WS)


def _is_page_end(line: bytes) -> bool:
    at = line.find(b" of ")
    if at >= 2 and at + 5 < len(line) and line[at - 2] == 0x28 and line[at + 5] == 0x29:
        return True  # "(1 of 2)"
    return b"--More--" in line or b"(end)" in line


def text_message(tty_chars: np.ndarray) -> str:
    """The message line; if the screen shows a menu or text window, its lines up to its end.

    Lines are read from the first line's indentation; when no line ends a window
    (``--More--``, ``(end)``, ``(n of m)``) only the first line is the message.
    """
    chars = np.asarray(tty_chars, dtype=np.uint8)
    data = chars.tobytes()
    return screen_message(data, chars.shape[1], has_more(data))


def has_more(data: bytes) -> bool:
    """Whether the screen bytes show ``--More--`` (searching the rare 'M' is fastest)."""
    at = data.find(b"M")
    while at >= 0:
        if data[at - 2 : at + 6] == b"--More--":
            return True
        at = data.find(b"M", at + 1)
    return False


# Some '(' that starts ``(end)`` or ``(n of m)``: a cheap pre-check of the window scan.
_WINDOW_END = re.compile(rb"\((?:end\)|. of )", re.DOTALL)


def screen_message(data: bytes, columns: int, more: bool) -> str:
    """:func:`text_message` of the screen bytes ``data`` (``more``: :func:`has_more`).

    As the benchmark reads a window: its blank rows are left out, and a game's end screen
    (second row holding the ``Points`` header or "... top ten list!") runs until two blank
    rows in a row, each of its rows ending in a newline.
    """
    first = data[:columns]
    first_trimmed = _trim(first)
    second = _trim(data[columns : 2 * columns])
    if not first_trimmed and not second:
        return ""
    end_screen = b"Points" in second or b"list!" in second
    if not (more or end_screen or _WINDOW_END.search(data)):
        return first_trimmed.decode("latin-1")  # no window ends anywhere on the screen
    # Rows are read from the first row's indentation. A first row of spaces only has none:
    # the reference's offset then wraps around, and each row starts with the last character
    # of the row above it (the first row with its own first character).
    indent = len(first) - len(first.lstrip(b" "))
    starts = range(indent, len(data), columns) if indent < columns else range(0, len(data), columns)
    out: list[bytes] = []
    blank_rows = 0
    for begin in starts:
        if indent < columns:
            line = _trim(data[begin : begin + columns - indent])
        else:
            line = _trim(data[max(begin - 1, 0) : begin + columns])
        if not line:
            blank_rows += 1
            if end_screen and blank_rows > 1:
                return b"".join(x + b"\n" for x in out).decode("latin-1")
            continue
        blank_rows = 0
        out.append(line)
        if _is_page_end(line):
            return b"\n".join(out).decode("latin-1")
    return first_trimmed.decode("latin-1")


def text_inventory(inv_strs: np.ndarray, inv_letters: np.ndarray) -> str:
    """``letter: item`` lines, up to the first empty inventory slot.

    An item's text ends at its first NUL byte; as in the reference, a text filling its whole
    row (a long name given with ``call``) runs on into the next row.
    """
    letters = np.asarray(inv_letters).tolist()
    strs = np.asarray(inv_strs, dtype=np.uint8)
    flat, width = strs.tobytes(), strs.shape[-1]
    lines = []
    for i, letter in enumerate(letters):
        if not letter:
            break
        end = flat.find(b"\0", i * width)
        item = flat[i * width : end if end >= 0 else len(flat)].decode("latin-1")
        lines.append(f"{chr(letter)}: {item}")
    return "\n".join(lines)


def screen_map(tty_chars: np.ndarray) -> str:
    """The terminal screen without its top (message) line, one line per row, newline-ended."""
    chars = np.asarray(tty_chars, dtype=np.uint8)
    return map_of_screen(chars.tobytes(), chars.shape[1])


def map_of_screen(data: bytes, columns: int) -> str:
    """:func:`screen_map` of the screen bytes ``data``."""
    return b"\n".join(_rows_after_first(len(data), columns)(data)).decode("latin-1") + "\n"


@functools.lru_cache(maxsize=8)
def _rows_after_first(size: int, columns: int) -> Any:
    rows = [slice(i, i + columns) for i in range(columns, size, columns)]
    if len(rows) == 1:
        return lambda data: [data[rows[0]]]
    return operator.itemgetter(*rows)


def hybrid_text(message: str, language: str, cursor: str, tty_cursor: Any, map_text: str) -> str:
    """BALROG's hybrid long-term context: labelled sections separated by blank lines."""
    position = f"(x={int(tty_cursor[1])}, y={int(tty_cursor[0])})"
    return (
        f"message:\n{message}\n\n"
        f"language observation:\n{language}\n\n"
        f"cursor:\n{cursor}\n{position}\n\n"
        f"map:\n{map_text}\n"
    )


def inventory_text(inventory: str) -> str:
    """BALROG's short-term context (the inventory section)."""
    return f"inventory:\n{inventory}\n"


__all__ = [
    "CMAP_NAMES",
    "DIRECTIONS",
    "DISTANCES",
    "describe_cursor",
    "describe_map",
    "has_more",
    "hybrid_text",
    "inventory_text",
    "map_of_screen",
    "pluralize",
    "position_words",
    "screen_map",
    "screen_message",
    "tables",
    "text_cursor",
    "text_glyphs",
    "text_inventory",
    "text_message",
]
