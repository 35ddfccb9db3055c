"""SEARCH and COUNT through the incremental index give today's results, byte for byte.

Random command sequences (appends, rewrites, emptied files, new files, map upserts, refusals,
unicode whose case folding changes length, regex specials, line breaks in keywords) run on a
real store; every SEARCH and COUNT result is compared with the whole-file view functions and
with the plain definition (the lines containing the keyword, case-insensitively).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automem.memory import MEMORY_OPS, Command, MemoryLimits, MemoryStore
from automem.memory import index as index_module
from automem.memory.index import KEYWORDS_PER_FILE, MatchIndex
from automem.memory.text import count_lines, cut, split_lines
from automem.memory.views import count_view, search_view

ALPHABET = "abAB ßs\u0130i\n\r|x.*+?()[]^$\\é😀"
TEXT = st.text(alphabet=ALPHABET, max_size=12)
KEYWORD = st.text(alphabet=ALPHABET, min_size=1, max_size=3)
FILE = st.sampled_from(["notes", "log", "fresh", "dungeon_map"])
COMMAND = st.one_of(
    st.tuples(st.just("APPEND"), FILE, TEXT),
    st.tuples(st.just("APPEND"), FILE, TEXT),  # appends are what grows files: twice as likely
    st.tuples(st.just("WRITE"), FILE, TEXT),  # empty text empties the file
    st.tuples(st.just("CREATE"), FILE),
    st.tuples(st.just("UPSERT_MAP"), st.sampled_from(["a", "B", "ß"]), TEXT),
    st.tuples(st.just("SEARCH"), FILE, KEYWORD),
    st.tuples(st.just("COUNT"), FILE, KEYWORD),
    st.tuples(st.just("SEARCH"), FILE, st.sampled_from(["a", "ss", "İ", "x.", "|"])),
)


def naive(content: str, keyword: str) -> list[str]:
    wanted = keyword.casefold()
    return [line for line in split_lines(content) if wanted in line.casefold()]


def expected_result(op: str, name: str, content: str, keyword: str, limits: MemoryLimits) -> str:
    if op == "COUNT":
        text = count_view(name, content, keyword)
    else:
        text = search_view(name, content, keyword, limits.search_max_results)
    return cut(text, limits.max_result_chars)


@settings(max_examples=400, deadline=None)
@given(
    initial=st.text(alphabet=ALPHABET, max_size=30),
    commands=st.lists(COMMAND, max_size=60),
    last_n=st.integers(min_value=1, max_value=4),
    max_bytes=st.sampled_from([60, 400, 65536]),
)
def test_index_results_equal_whole_file_views(
    initial: str, commands: list[tuple[str, ...]], last_n: int, max_bytes: int
) -> None:
    limits = MemoryLimits(search_max_results=last_n, max_file_bytes=max_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        initial_files = {"notes": initial, "log": "Tree\nß partial"}
        store = MemoryStore(Path(tmp) / "m", initial_files=initial_files, limits=limits)
        for op, *args in commands:
            name = limits.map_file if op == "UPSERT_MAP" else args[0]
            before = store.files()
            record = store.execute(
                Command(op=op, args=tuple(args), raw=""),
                step=1,
                phase="log",
                allowed_ops=MEMORY_OPS,
            )
            if op in ("SEARCH", "COUNT") and name in before:
                content = store.read(name)
                assert record.ok
                assert record.result == expected_result(op, name, content, args[1], limits)
                assert record.matches == len(naive(content, args[1]))
            for file in store.files():
                assert store.line_count(file) == count_lines(store.read(file))
                assert store.line_breaks(file) == store.read(file).count("\n")


def test_search_after_each_append_scans_each_line_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cost that stays flat: a SEARCH after every append reads the appended lines only."""
    scanned: list[int] = []
    real_split = index_module.split_lines

    def counting_split(text: str) -> list[str]:
        scanned.append(len(text))
        return real_split(text)

    monkeypatch.setattr(index_module, "split_lines", counting_split)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "m", initial_files={"log": ""})
        for i in range(500):
            for op, args in (("APPEND", ("log", f"saw tree {i}")), ("SEARCH", ("log", "tree"))):
                store.execute(
                    Command(op=op, args=args, raw=""), step=i, phase="log", allowed_ops=MEMORY_OPS
                )
        size = len(store.read("log"))
        last = store.journal[-1].result
    assert sum(scanned) == size  # every character scanned once, not once per search
    assert last.startswith('500 matches in log for "tree" (showing last 10):\nsaw tree 490')


def test_a_rewrite_drops_the_tallies() -> None:
    index = MatchIndex(last_n=2)
    assert index.lookup("f", "tree 1\ntree 2\n", "TREE") == (2, ["tree 1", "tree 2"])
    index.rewritten("f")
    assert index.lookup("f", "oak\n", "tree") == (0, [])


def test_the_tallies_per_file_are_bounded() -> None:
    index = MatchIndex(last_n=1)
    for i in range(KEYWORDS_PER_FILE + 5):
        index.lookup("f", "a b c\n", f"word{i}")
    assert len(index._files["f"]) == KEYWORDS_PER_FILE
    # A dropped keyword is counted again from the start, with the same result.
    assert index.lookup("f", "a b c\nword0 here\n", "word0") == (1, ["word0 here"])


def test_last_n_must_be_positive() -> None:
    with pytest.raises(ValueError, match="last_n must be at least 1"):
        MatchIndex(last_n=0)
