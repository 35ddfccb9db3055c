"""Every memory op's semantics, the caps, phase rules and the journal, against the real disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.memory import (
    MEMORY_OPS,
    READ_OPS,
    WRITE_OPS,
    Command,
    JournalRecord,
    MemoryLimits,
    MemoryRefusal,
    MemoryStore,
    Op,
    parse_commands,
    rebuild,
)
from automem.traces import CommandRecord

INITIAL = {"notes": "Tree at 1,1\nwater at 2,2\nTREE at 3,3\n", "strategy": ""}


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore(tmp_path / "deep" / "mem", initial_files=INITIAL)


def run(store: MemoryStore, op: str, *args: str, step: int = 1) -> JournalRecord:
    return store.execute(
        Command(op=op, args=args, raw=""), step=step, phase="log", allowed_ops=MEMORY_OPS
    )


def on_disk(store: MemoryStore, name: str) -> str:
    return (store.root / name).read_bytes().decode("utf-8")


def assert_error(record: JournalRecord, expected: str) -> None:
    assert not record.ok
    assert record.result == f"ERROR: {expected}"
    assert len(record.result.splitlines()) == 1


# --------------------------------------------------------------------------- setup


def test_op_sets() -> None:
    assert {"SEARCH", "READ", "TAIL", "COUNT"} == READ_OPS
    assert {"APPEND", "WRITE", "CREATE", "UPSERT_MAP"} == WRITE_OPS
    assert MEMORY_OPS == READ_OPS | WRITE_OPS
    assert Op.UPSERT_MAP == "UPSERT_MAP"


def test_init_creates_root_and_initial_files(store: MemoryStore) -> None:
    assert store.root.is_dir()
    assert store.files() == {"notes": 37, "strategy": 0}
    assert store.snapshot() == INITIAL
    assert store.initial_files == INITIAL
    assert store.journal == []


def test_init_refuses_non_empty_root(tmp_path: Path) -> None:
    (tmp_path / "mem").mkdir()
    (tmp_path / "mem" / "old").write_text("x")
    with pytest.raises(ValueError, match="not an empty directory"):
        MemoryStore(tmp_path / "mem", initial_files={})


def test_init_accepts_existing_empty_root(tmp_path: Path) -> None:
    (tmp_path / "mem").mkdir()
    assert MemoryStore(tmp_path / "mem", initial_files={"a": "x\n"}).read("a") == "x\n"


def test_init_refuses_initial_files_over_caps(tmp_path: Path) -> None:
    limits = MemoryLimits(max_files=1, max_file_bytes=4)
    with pytest.raises(MemoryRefusal):
        MemoryStore(tmp_path / "a", initial_files={"a": "", "b": ""}, limits=limits)
    with pytest.raises(MemoryRefusal):
        MemoryStore(tmp_path / "b", initial_files={"a": "12345"}, limits=limits)


# --------------------------------------------------------------------------- read ops


def test_read(store: MemoryStore) -> None:
    record = run(store, "READ", "notes")
    assert record.ok and record.result == "Tree at 1,1\nwater at 2,2\nTREE at 3,3"
    assert record.file == "notes" and record.size_before is None and record.bytes_changed == 0


def test_read_empty_file_gives_explicit_marker(store: MemoryStore) -> None:
    assert run(store, "READ", "strategy").result == "[strategy is empty]"


def test_missing_file_lists_files(store: MemoryStore) -> None:
    run(store, "CREATE", "a")
    for op, rest in [("READ", ()), ("SEARCH", ("x",)), ("COUNT", ("x",)), ("TAIL", ("2",))]:
        record = run(store, op, "x", *rest)
        assert_error(record, "no file named 'x'; files: a, notes, strategy")
        assert record.file == "x"


def test_search_is_case_insensitive_with_total(store: MemoryStore) -> None:
    record = run(store, "SEARCH", "notes", "tree")
    assert record.ok
    assert record.result == (
        '2 matches in notes for "tree" (showing last 2):\nTree at 1,1\nTREE at 3,3'
    )
    assert run(store, "SEARCH", "notes", "WATER").result == (
        '1 match in notes for "WATER" (showing last 1):\nwater at 2,2'
    )


def test_search_shows_last_n_of_total(tmp_path: Path) -> None:
    lines = "".join(f"tree {i}\nrock {i}\n" for i in range(25))
    store = MemoryStore(tmp_path / "m", initial_files={"log": lines})
    result = run(store, "SEARCH", "log", "tree").result.splitlines()
    assert result[0] == '25 matches in log for "tree" (showing last 10):'
    assert result[1:] == [f"tree {i}" for i in range(15, 25)]


def test_search_zero_matches_is_explicit(store: MemoryStore) -> None:
    record = run(store, "SEARCH", "notes", "diamond")
    assert record.ok and record.result == '0 matches in notes for "diamond"'
    assert run(store, "SEARCH", "strategy", "x").result == '0 matches in strategy for "x"'


def test_search_keyword_is_quoted_on_one_line(store: MemoryStore) -> None:
    record = run(store, "SEARCH", "notes", 'a"b\nc')
    assert record.result == '0 matches in notes for "a\\"b\\nc"'


def test_search_and_count_need_keyword(store: MemoryStore) -> None:
    assert_error(
        run(store, "SEARCH", "notes", ""), "SEARCH needs a non-empty keyword (SEARCH file|keyword)"
    )
    assert_error(
        run(store, "COUNT", "notes", ""), "COUNT needs a non-empty keyword (COUNT file|keyword)"
    )


def test_search_and_count_records_carry_the_match_count(store: MemoryStore) -> None:
    assert run(store, "SEARCH", "notes", "tree").matches == 2
    assert run(store, "SEARCH", "notes", "diamond").matches == 0
    assert run(store, "COUNT", "notes", "at").matches == 3
    assert run(store, "SEARCH", "notes", "").matches is None  # refused: nothing was counted
    assert run(store, "READ", "notes").matches is None
    assert run(store, "APPEND", "notes", "tree again").matches is None


def test_count(store: MemoryStore) -> None:
    assert run(store, "COUNT", "notes", "TrEe").result == '2 matches in notes for "TrEe"'
    assert run(store, "COUNT", "notes", "at").result == '3 matches in notes for "at"'
    assert run(store, "COUNT", "notes", "lava").result == '0 matches in notes for "lava"'


def test_tail(store: MemoryStore) -> None:
    assert run(store, "TAIL", "notes", "2").result == (
        "last 2 of 3 lines of notes:\nwater at 2,2\nTREE at 3,3"
    )
    assert run(store, "TAIL", "notes", "1").result == "last 1 of 3 lines of notes:\nTREE at 3,3"
    # More than the file has: the whole file.
    assert run(store, "TAIL", "notes", "40").result.startswith("last 3 of 3 lines of notes:\n")
    assert run(store, "TAIL", "strategy", "5").result == "[strategy is empty]"


def test_tail_is_capped(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "m", initial_files={"log": "".join(f"{i}\n" for i in range(80))})
    for count in ("51", "9999", "1" * 5000):
        lines = run(store, "TAIL", "log", count).result.splitlines()
        assert lines[0] == "last 50 of 80 lines of log (TAIL shows at most 50):"
        assert lines[1:] == [str(i) for i in range(30, 80)]


@pytest.mark.parametrize("count", ["0", "00", "-1", "abc", "", "2.5", "+3", "½", "٣"])
def test_tail_bad_count(store: MemoryStore, count: str) -> None:
    record = run(store, "TAIL", "notes", count)
    assert not record.ok
    assert record.result.startswith(
        "ERROR: TAIL needs a whole number of lines, 1 or more (TAIL file|N), got "
    )


# --------------------------------------------------------------------------- write ops


def test_append_adds_exactly_one_line(store: MemoryStore) -> None:
    record = run(store, "APPEND", "notes", "cow at 4,4\nand | more\r\nstuff")
    assert record.ok
    assert record.result == "appended 1 line to notes (4 lines, 65 bytes)"
    assert on_disk(store, "notes") == INITIAL["notes"] + "cow at 4,4 and | more stuff\n"
    assert (record.size_before, record.size_after, record.bytes_changed) == (37, 65, 28)


def test_append_creates_missing_file(store: MemoryStore) -> None:
    record = run(store, "APPEND", "diary", "day one")
    assert record.result == "appended 1 line to diary (new file; 1 line, 8 bytes)"
    assert (record.size_before, record.size_after) == (0, 8)
    assert on_disk(store, "diary") == "day one\n"


def test_append_after_initial_file_without_final_newline(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "m", initial_files={"a": "first"})
    run(store, "APPEND", "a", "second")
    assert on_disk(store, "a") == "first\nsecond\n"


def test_append_needs_text(store: MemoryStore) -> None:
    for text in ("", "   ", "\n"):
        assert_error(
            run(store, "APPEND", "notes", text), "APPEND needs non-empty text (APPEND file|text)"
        )
    assert on_disk(store, "notes") == INITIAL["notes"]


def test_write_overwrites_with_final_newline(store: MemoryStore) -> None:
    record = run(store, "WRITE", "notes", "line one\r\nline two")
    assert record.result == "wrote notes (2 lines, 18 bytes; was 37 bytes)"
    assert on_disk(store, "notes") == "line one\nline two\n"
    run(store, "WRITE", "notes", "kept\n")
    assert on_disk(store, "notes") == "kept\n"


def test_write_empty_text_empties_file(store: MemoryStore) -> None:
    record = run(store, "WRITE", "notes", "")
    assert record.ok and record.result == "wrote notes (0 lines, 0 bytes; was 37 bytes)"
    assert on_disk(store, "notes") == ""
    assert record.bytes_changed == -37


def test_write_creates_missing_file(store: MemoryStore) -> None:
    assert (
        run(store, "WRITE", "plan", "go north").result == "wrote plan (new file; 1 line, 9 bytes)"
    )


def test_create(store: MemoryStore) -> None:
    record = run(store, "CREATE", "todo")
    assert record.ok and record.result == "created todo (empty; 3 files now)"
    assert on_disk(store, "todo") == ""
    assert (record.size_before, record.size_after) == (0, 0)
    assert_error(
        run(store, "CREATE", "notes"),
        "notes already exists (37 bytes); "
        "use WRITE notes|text to overwrite it or APPEND to add to it",
    )


def test_upsert_map_appends_then_replaces(store: MemoryStore) -> None:
    first = run(store, "UPSERT_MAP", "3,4", "tree")
    assert first.result == "added a line for '3,4' to dungeon_map (new file; 1 line, 10 bytes)"
    assert first.file == "dungeon_map" and first.args == ("3,4", "tree")
    run(store, "UPSERT_MAP", "3,45", "rock")
    run(store, "UPSERT_MAP", "1,1", "grass")
    second = run(store, "UPSERT_MAP", "3,4", "stump\nchopped")
    assert second.result == "replaced the line for '3,4' in dungeon_map (3 lines, 41 bytes)"
    assert on_disk(store, "dungeon_map") == "3,4: stump chopped\n3,45: rock\n1,1: grass\n"


def test_upsert_map_collapses_duplicates(tmp_path: Path) -> None:
    limits = MemoryLimits(map_file="map")
    store = MemoryStore(
        tmp_path / "m", initial_files={"map": "1,1: a\n2,2: b\n1,1: c\nx 1,1: d"}, limits=limits
    )
    record = run(store, "UPSERT_MAP", "1,1", "z")
    assert (
        record.result
        == "replaced the line for '1,1' in map (3 lines, 23 bytes; removed 1 duplicate line)"
    )
    assert on_disk(store, "map") == "1,1: z\n2,2: b\nx 1,1: d\n"


def test_upsert_map_argument_errors(store: MemoryStore) -> None:
    expected = "UPSERT_MAP needs a non-empty key and text (UPSERT_MAP key|text)"
    assert_error(run(store, "UPSERT_MAP", "", "tree"), expected)
    assert_error(run(store, "UPSERT_MAP", "3,4", " "), expected)
    assert_error(
        run(store, "UPSERT_MAP", "3\n4", "t"), "UPSERT_MAP key must be on one line, got '3\\n4'"
    )
    assert "dungeon_map" not in store.files()


# --------------------------------------------------------------------------- refusals


def test_unknown_op_and_agent_ops(store: MemoryStore) -> None:
    allowed = "SEARCH, READ, TAIL, COUNT, APPEND, WRITE, CREATE, UPSERT_MAP"
    assert_error(
        run(store, "DELETE", "notes"), f"unknown command 'DELETE'; allowed here: {allowed}"
    )
    assert_error(run(store, "DONE"), "DONE is not a memory command; the agent handles it")
    assert_error(run(store, "DONE", "x"), "DONE is not a memory command; the agent handles it")
    assert_error(
        run(store, "ACTION", "noop"), "ACTION is not a memory command; the agent handles it"
    )


def test_op_not_allowed_in_phase(store: MemoryStore) -> None:
    record = store.execute(
        Command(op="APPEND", args=("notes", "x"), raw=""),
        step=2,
        phase="plan",
        allowed_ops=("READ", "TAIL", "ACTION"),
    )
    assert_error(record, "APPEND is not allowed in the plan phase; allowed here: READ, TAIL")
    assert record.phase == "plan" and record.step == 2
    assert on_disk(store, "notes") == INITIAL["notes"]


@pytest.mark.parametrize(
    ("op", "args", "expected"),
    [
        ("READ", (), "READ takes 1 argument separated by '|' (READ file), got 0"),
        (
            "SEARCH",
            ("notes",),
            "SEARCH takes 2 arguments separated by '|' (SEARCH file|keyword), got 1",
        ),
        (
            "APPEND",
            ("notes",),
            "APPEND takes 2 arguments separated by '|' (APPEND file|text), got 1",
        ),
        ("WRITE", (), "WRITE takes 2 arguments separated by '|' (WRITE file|text), got 0"),
        ("TAIL", ("notes",), "TAIL takes 2 arguments separated by '|' (TAIL file|N), got 1"),
        ("CREATE", ("a", "b"), "CREATE takes 1 argument separated by '|' (CREATE file), got 2"),
        (
            "UPSERT_MAP",
            ("3,4: tree",),
            "UPSERT_MAP takes 2 arguments separated by '|' (UPSERT_MAP key|text), got 1",
        ),
    ],
)
def test_wrong_argument_count(
    store: MemoryStore, op: str, args: tuple[str, ...], expected: str
) -> None:
    record = run(store, op, *args)
    assert_error(record, expected)
    assert record.file is None


def test_every_refusal_is_journaled(store: MemoryStore) -> None:
    records = [
        run(store, "DELETE"),
        run(store, "READ"),
        run(store, "READ", "nope"),
        run(store, "READ", "notes"),
    ]
    assert store.journal == records
    assert [r.ok for r in store.journal] == [False, False, False, True]


# --------------------------------------------------------------------------- caps


@pytest.fixture
def small(tmp_path: Path) -> MemoryStore:
    limits = MemoryLimits(max_file_bytes=40, max_files=3, map_file="map")
    return MemoryStore(tmp_path / "m", initial_files={"notes": "0123456789\n"}, limits=limits)


def test_append_over_size_cap_is_refused_whole(small: MemoryStore) -> None:
    run(small, "APPEND", "notes", "a" * 28)  # 11 + 29 = 40 bytes: exactly at the limit
    assert small.files()["notes"] == 40
    record = run(small, "APPEND", "notes", "b")
    assert_error(
        record,
        "APPEND to notes refused: notes would grow to 42 bytes (limit 40); nothing was written; "
        "condense it with WRITE notes|<shorter summary>",
    )
    assert record.file == "notes" and record.size_before is None
    assert on_disk(small, "notes") == "0123456789\n" + "a" * 28 + "\n"


def test_size_cap_counts_utf8_bytes(small: MemoryStore) -> None:
    record = run(small, "WRITE", "notes", "é" * 20)  # 40 bytes + newline
    assert_error(
        record,
        "WRITE to notes refused: the text is 41 bytes (limit 40); nothing was written; "
        "WRITE a shorter, condensed version",
    )
    assert on_disk(small, "notes") == "0123456789\n"


def test_upsert_over_size_cap(small: MemoryStore) -> None:
    assert run(small, "UPSERT_MAP", "1,1", "x" * 30).ok
    record = run(small, "UPSERT_MAP", "2,2", "y")
    assert record.result.startswith(
        "ERROR: UPSERT_MAP to map refused: map would grow to 43 bytes (limit 40)"
    )
    assert on_disk(small, "map") == "1,1: " + "x" * 30 + "\n"


def test_file_count_cap(small: MemoryStore) -> None:
    assert run(small, "CREATE", "a").ok
    assert run(small, "APPEND", "b", "x").ok
    for op, args in [
        ("CREATE", ("c",)),
        ("APPEND", ("c", "x")),
        ("WRITE", ("c", "x")),
        ("UPSERT_MAP", ("1,1", "x")),
    ]:
        target = "map" if op == "UPSERT_MAP" else "c"
        record = run(small, op, *args)
        assert_error(
            record,
            f"cannot create {target}: there are already 3 files (limit 3); "
            "use an existing file: a, b, notes",
        )
    assert sorted(p.name for p in small.root.iterdir()) == ["a", "b", "notes"]
    assert run(small, "WRITE", "a", "still fine").ok  # existing files stay writable


def test_result_length_cap(tmp_path: Path) -> None:
    limits = MemoryLimits(max_result_chars=30)
    store = MemoryStore(tmp_path / "m", initial_files={"notes": "x" * 35 + "\n"}, limits=limits)
    record = run(store, "READ", "notes")
    assert record.ok
    assert record.result == "x" * 30 + "\n[... 5 more characters cut]"
    assert store.read("notes") == "x" * 35 + "\n"  # only the view is cut
    # Refusals are cut too, but stay on one line.
    error = run(store, "READ", "missing")
    assert error.result == "ERROR: no file named 'missing' [... 14 more characters cut]"


# --------------------------------------------------------------------------- programmatic API


def test_write_by_code_is_journaled_as_write(store: MemoryStore) -> None:
    record = store.write_by_code("status", "hp 9\nfood 3", step=4)
    assert record.op == "WRITE" and record.phase == "helper" and record.step == 4
    assert record.args == ("status", "hp 9\nfood 3") and record.ok
    assert store.read("status") == on_disk(store, "status") == "hp 9\nfood 3\n"
    assert store.journal[-1] == record


def test_write_by_code_caps_raise(small: MemoryStore) -> None:
    with pytest.raises(MemoryRefusal, match="limit 40"):
        small.write_by_code("notes", "x" * 50, step=1)
    small.write_by_code("a", "", step=1)
    small.write_by_code("b", "", step=1)
    with pytest.raises(MemoryRefusal, match="limit 3"):
        small.write_by_code("c", "", step=1)
    assert len(small.journal) == 2


def test_read_raises_for_missing(store: MemoryStore) -> None:
    with pytest.raises(MemoryRefusal, match="no file named 'x'; files: notes, strategy"):
        store.read("x")


def test_disk_matches_cache_and_no_temp_files_left(store: MemoryStore) -> None:
    run(store, "WRITE", "a", "1")
    run(store, "APPEND", "a", "2")
    run(store, "UPSERT_MAP", "0,0", "start")
    run(store, "CREATE", "b")
    names = sorted(p.name for p in store.root.iterdir())
    assert names == ["a", "b", "dungeon_map", "notes", "strategy"]
    assert store.snapshot() == {name: store.read(name) for name in names}
    assert store.files() == {name: len(on_disk(store, name).encode()) for name in names}


def test_lone_surrogates_never_break_a_write(store: MemoryStore) -> None:
    record = run(store, "APPEND", "notes", "bad \ud800 char")
    assert record.ok
    assert store.snapshot()["notes"] == store.read("notes")


def test_the_journal_of_text_with_lone_surrogates_can_be_traced_and_replayed(
    store: MemoryStore,
) -> None:
    records = [
        run(store, "APPEND", "notes", "bad \udcff char"),
        run(store, "WRITE", "strategy", "pair \ud83d\ude00 and lone \ud800"),
        run(store, "SEARCH", "notes", "\udcff"),
        run(store, "READ", "missing\udcff"),
        store.write_by_code("plan", "helper \udcff text", step=2),
    ]
    assert [r.ok for r in records] == [True, True, True, False, True]
    for record in records:  # what the trace writer does with each journal record
        line = CommandRecord.from_journal(record, 0).model_dump_json().encode()
        assert CommandRecord.model_validate_json(line).to_journal() == record
    assert store.read("notes").endswith("bad \ufffd char\n")
    assert store.read("strategy") == "pair \U0001f600 and lone \ufffd\n"
    assert records[0].args == ("notes", "bad \ufffd char")
    assert rebuild(store.journal, INITIAL) == store.snapshot()


def test_parsed_reply_end_to_end(store: MemoryStore) -> None:
    reply = (
        "I should check.\n```\n<|search|>notes|tree<|END|>\n<|APPEND|>notes|cow at 5,5\n```\n"
        "<|UPSERT_MAP|>5,5|cow<|END|><|DONE|>"
    )
    parsed = parse_commands(reply)
    records = [
        store.execute(c, step=1, phase="log", allowed_ops=MEMORY_OPS)
        for c in parsed.commands
        if c.op in MEMORY_OPS
    ]
    assert [r.ok for r in records] == [True, True, True]
    assert store.read("notes").endswith("cow at 5,5\n")
    assert store.read("dungeon_map") == "5,5: cow\n"
