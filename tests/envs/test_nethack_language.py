"""The NetHack/MiniHack language view: the benchmark's texts reproduced from raw NLE arrays."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from automem.envs.nethack import language as L
from automem.envs.nle_map import cursor, map_lines, neighbours
from tests.conftest import DATA
from tests.envs import language_reference as reference

CASES = range(3)


@cache
def _cases() -> list[dict]:
    path = DATA / "nle_language_examples.json"
    return json.loads(path.read_text())["cases"]


def _arrays(index: int) -> dict[str, np.ndarray]:
    raw = _cases()[index]["input"]
    dtypes = {
        "glyphs": np.int16,
        "blstats": np.int64,
        "tty_chars": np.uint8,
        "tty_cursor": np.uint8,
        "inv_strs": np.uint8,
        "inv_letters": np.uint8,
    }
    return {k: np.asarray(v, dtype=dtypes[k]) for k, v in raw.items()}


@pytest.mark.parametrize("index", CASES)
def test_language_observation_matches_the_benchmark(index: int) -> None:
    a, expected = _arrays(index), _cases()[index]["expected"]
    assert L.text_glyphs(a["glyphs"], a["blstats"]) == expected["language_observation"]


@pytest.mark.parametrize("index", CASES)
def test_cursor_message_and_inventory_match_the_benchmark(index: int) -> None:
    a, expected = _arrays(index), _cases()[index]["expected"]
    assert L.text_cursor(a["glyphs"], a["blstats"], a["tty_cursor"]) == expected["cursor"]
    assert L.text_message(a["tty_chars"]) == expected["message"]
    assert L.text_inventory(a["inv_strs"], a["inv_letters"]) == expected["inventory"]


@pytest.mark.parametrize("index", CASES)
def test_the_same_texts_from_the_raw_int64_lists(index: int) -> None:
    raw, expected = _cases()[index]["input"], _cases()[index]["expected"]
    glyphs, blstats = np.array(raw["glyphs"]), np.array(raw["blstats"])
    assert L.text_glyphs(glyphs, blstats) == expected["language_observation"]
    assert L.text_cursor(glyphs, blstats, np.array(raw["tty_cursor"])) == expected["cursor"]


def _hybrid_text(index: int) -> str:
    """The hybrid long-term text of an example, from its expected sections."""
    a, expected = _arrays(index), _cases()[index]["expected"]
    return L.hybrid_text(
        expected["message"],
        expected["language_observation"],
        expected["cursor"],
        a["tty_cursor"],
        L.screen_map(a["tty_chars"]),
    )


def test_hybrid_layout_is_balrogs() -> None:
    a, expected = _arrays(0), _cases()[0]["expected"]
    text = _hybrid_text(0)
    rows = [bytes(r).decode("latin-1") for r in a["tty_chars"]]
    assert text == (
        f"message:\n{expected['message']}\n\n"
        f"language observation:\n{expected['language_observation']}\n\n"
        f"cursor:\n{expected['cursor']}\n(x=66, y=18)\n\n"
        "map:\n" + "\n".join(rows[1:]) + "\n\n"
    )
    assert L.inventory_text(expected["inventory"]) == f"inventory:\n{expected['inventory']}\n"
    assert len(map_lines(text)) >= 23  # 23 screen rows, then the closing blank lines
    assert map_lines(text)[:23] == rows[1:]
    assert cursor(text) == (66, 18)


def test_neighbour_map_reads_the_hybrid_text() -> None:
    cells = neighbours(_hybrid_text(1))
    assert cells is not None
    # "stairs up adjacent east", "tame little dog adjacent northwest", walls to the south.
    assert cells["east"] == ("<", "staircase up")
    assert cells["northwest"][0] == "d"
    assert cells["south"] == ("-", "wall or open door")


def _screen(*rows: str) -> np.ndarray:
    lines = [r.ljust(80)[:80] for r in rows] + [" " * 80] * (24 - len(rows))
    return np.array([[ord(c) for c in line] for line in lines], dtype=np.uint8)


def test_message_of_a_menu_runs_to_its_end_marker() -> None:
    screen = _screen(
        "                    Weapons",
        "                    a - a +0 katana (weapon in hand)",
        "                    b - a +0 wakizashi",
        "                    (end)",
    )
    assert L.text_message(screen) == (
        "Weapons\na - a +0 katana (weapon in hand)\nb - a +0 wakizashi\n(end)"
    )
    paged = _screen("     Things", "     x", "     (1 of 2)")
    assert L.text_message(paged) == "Things\nx\n(1 of 2)"
    more = _screen("You kill the newt!--More--")
    assert L.text_message(more) == "You kill the newt!--More--"
    assert L.has_more(more.tobytes()) and not L.has_more(paged.tobytes())


def test_message_quirks_of_the_reference() -> None:
    assert L.text_message(_screen("")) == ""
    assert L.text_message(_screen("It's a wall.  ")) == "It's a wall."
    # Without an end marker, a multi-line screen is only its first line.
    assert L.text_message(_screen("Hello", "world")) == "Hello"
    # A lone character in the last column counts as blank (sic).
    assert L.text_message(_screen(" " * 79 + "x")) == ""
    # Only the first " of " of a line is checked for "(n of m)".
    assert L.text_message(_screen("a scroll of light (1 of 2)", "next")) == (
        "a scroll of light (1 of 2)"
    )


def test_window_messages_leave_out_blank_rows() -> None:
    screen = _screen(" Current skills:", "", " Fighting Skills", "  riding [Basic]", "", " (end)")
    assert L.text_message(screen) == "Current skills:\nFighting Skills\nriding [Basic]\n(end)"


def test_end_screen_message_runs_to_two_blank_rows() -> None:
    points = " No  Points     Name"
    rows = ("", points, "", "   1   8  Agent died in", "", "    level 1.", "", "", "tail")
    assert L.text_message(_screen(*rows)) == "No  Points     Name\n1   8  Agent died in\nlevel 1.\n"
    top = ("You made the top ten list!", points, "   1   8  Agent died", "", "")
    assert L.text_message(_screen(*top)) == (
        "You made the top ten list!\nNo  Points     Name\n1   8  Agent died\n"
    )
    # Without the header in the second row, a blank first row is an empty message.
    assert L.text_message(_screen("", "Hello")) == ""
    # A first row of spaces only has no indentation: the reference then starts each row
    # with the last character of the row above (sic).
    wrapped = _screen("", points.ljust(79) + "#", "  next", "", "")
    assert L.text_message(wrapped) == points.strip().ljust(78) + "#\n#  next\n"


def test_an_item_text_filling_its_row_runs_on_into_the_next() -> None:
    strs = np.zeros((55, 80), dtype=np.uint8)
    long_name = b"4 potions of water named " + b"x" * 55  # 80 bytes: no NUL in its row
    strs[0, :] = np.frombuffer(long_name, dtype=np.uint8)
    strs[1, :5] = np.frombuffer(b"a key", dtype=np.uint8)
    letters = np.zeros(55, dtype=np.uint8)
    letters[:2] = (ord("a"), ord("b"))
    assert L.text_inventory(strs, letters) == f"a: {long_name.decode()}a key\nb: a key"


def test_positions_and_plurals() -> None:
    assert L.position_words(3, 1) == ("near", "eastnortheast")
    assert L.position_words(3, -2) == ("near", "eastsoutheast")
    assert L.position_words(0, 1) == ("adjacent", "north")
    assert L.position_words(-2, -2) == ("very near", "southwest")
    assert L.position_words(-20, 5) == ("very far", "westnorthwest")
    assert L.position_words(6, 0) == ("far", "east")
    assert L.pluralize("lava") == "area of lava"
    assert L.pluralize("jackal") == "jackals"
    assert L.pluralize("tame little dog") == "tame little dogs"
    assert L.pluralize("dwarf") == "dwarves"
    assert L.pluralize("giant fly") == "giant flies"
    assert L.pluralize("fox") == "foxes"
    assert L.pluralize("jackboots") == "jackboots"
    assert L.pluralize("scroll labeled FOO") == "scrolls labeled FOO"


def _blank_map() -> np.ndarray:
    from nle import nethack

    return np.full((21, 79), nethack.GLYPH_CMAP_OFF + 19, dtype=np.int16)  # lit room floor


def test_grouping_uses_plurals_for_several_cells_in_one_direction() -> None:
    from nle import nethack

    glyphs = _blank_map()
    lava = nethack.GLYPH_CMAP_OFF + 34
    # Player at (10, 10); lava 3 east (east), and at (13, 9), (13, 8): both eastnortheast.
    glyphs[10, 13] = glyphs[9, 13] = glyphs[8, 13] = lava
    glyphs[12, 12] = lava  # 2 east 2 south: southeast, very near
    blstats = np.zeros(27, dtype=np.int64)
    blstats[0], blstats[1] = 10, 10
    assert L.text_glyphs(glyphs, blstats) == (
        "lava near east\narea of lava near eastnortheast\nlava very near southeast"
    )


def test_rays_stop_at_walls_and_pass_monsters() -> None:
    from nle import nethack

    glyphs = _blank_map()
    wall, stone = nethack.GLYPH_CMAP_OFF + 1, nethack.GLYPH_CMAP_OFF
    glyphs[10, 12] = nethack.GLYPH_MON_OFF + 16  # a jackal 2 east: listed, does not block
    glyphs[10, 14] = wall  # vertical wall 4 east: listed, blocks
    glyphs[10, 16] = wall  # behind the wall: not seen by the ray
    glyphs[10, 5] = stone  # dark area 5 west
    blstats = np.zeros(27, dtype=np.int64)
    blstats[0], blstats[1] = 10, 10
    name = nethack.permonst(16).mname
    assert L.text_glyphs(glyphs, blstats) == (
        f"vertical wall near east\ndark area near west\n{name} very near east"
    )


def test_no_player_on_the_map_gives_an_empty_description() -> None:
    glyphs = _blank_map()
    assert L.text_glyphs(glyphs, np.full(27, 200, dtype=np.int64)) == ""


def _played_states() -> list[tuple[np.ndarray, int, int]]:
    """(glyphs, x, y) of real game states: random moves in NetHack and two MiniHack tasks."""
    import random

    from automem.envs import make

    states = []
    for env_id, seed in (
        ("nethack", 7),
        ("minihack/MiniHack-Quest-Easy-v0", 3),
        ("minihack/MiniHack-MazeWalk-15x15-v0", 4),
    ):
        env = make(env_id)
        rng = random.Random(seed)
        moves = [a for a in env.action_names if a in reference.MOVES] or env.action_names
        try:
            env.reset(seed)
            for _ in range(120):
                obs = env.raw_observation  # type: ignore[attr-defined]
                x, y = int(obs["blstats"][0]), int(obs["blstats"][1])
                states.append((obs["glyphs"].copy(), x, y))
                if env.step(rng.choice(moves)).done:
                    break
        finally:
            env.close()
    return states


def _random_states(count: int) -> list[tuple[np.ndarray, int, int]]:
    """Crowded synthetic grids: every kind of glyph, the player anywhere incl. the corners."""
    from nle import nethack

    rng = np.random.default_rng(0)
    cmap = nethack.GLYPH_CMAP_OFF + np.arange(len(L.CMAP_NAMES))
    states = []
    for i in range(count):
        grid = rng.choice(cmap[[0, 1, 2, 12, 19, 21, 34, 42]], size=(21, 79))
        crowd = rng.random((21, 79)) < rng.choice([0.02, 0.2])
        grid[crowd] = rng.integers(0, nethack.MAX_GLYPH, size=int(crowd.sum()))
        corners = ((0, 0), (78, 0), (0, 20), (78, 20))
        x, y = corners[i] if i < 4 else (int(rng.integers(79)), int(rng.integers(21)))
        states.append((grid.astype(np.int16), x, y))
    return states


def test_fast_description_equals_the_plain_reading_on_real_and_crowded_states() -> None:
    states = _played_states() + _random_states(120)
    assert len(states) > 300
    differing = [
        (i, x, y)
        for i, (glyphs, x, y) in enumerate(states)
        if L.describe_map(glyphs.reshape(-1), x, y) != reference.describe(glyphs, x, y)
    ]
    assert not differing, f"{len(differing)} of {len(states)} states differ, first {differing[:3]}"


def test_a_mass_noun_in_two_directions_reads_its_last_line_twice() -> None:
    """The reference keys lines by (name, distance): "scales" and its plural collide."""
    glyphs = _blank_map()
    scales = L.tables().screen_names.index("gray dragon scales")
    glyphs[10, 13] = glyphs[10, 14] = scales  # near east, twice: the plural line
    glyphs[7, 10] = scales  # near north, once: the singular line, same key
    expected = "gray dragon scales near east\ngray dragon scales near east"
    assert L.describe_map(glyphs.reshape(-1), 10, 10) == expected
    assert reference.describe(glyphs, 10, 10) == expected


def test_symbol_classes_are_the_right_slices_of_the_map_symbols() -> None:
    assert {"room floor", "dark room floor", "corridor floor", "lit corridor floor"} == L.FLOORS
    assert len(L.SCREEN_FEATURES) == 18 and len(L.BLOCKING) == 16
    assert {"vertical closed door", "tree", "stairs up", "lava", "vertical raised drawbridge"} <= (
        L.SCREEN_FEATURES
    )
    assert not {"doorway", "vertical open door", "room floor", "vertical lowered drawbridge"} & (
        L.SCREEN_FEATURES | L.BLOCKING
    )
    assert {
        "dark area",
        "t east wall",
        "horizontal closed door",
        "horizontal raised drawbridge",
    } <= (L.BLOCKING)
