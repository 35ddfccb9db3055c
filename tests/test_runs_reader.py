"""The run reader on real scripted Crafter runs: step ranges, memory at a step, file history and
search agree with a full parse of the trace; the index is a cache that is rebuilt, never
trusted; episode ids and folders never lead out of the run directory."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from automem.memory import rebuild
from automem.memory.rebuild import written_file
from automem.runs import RunConfig, RunDirError, run
from automem.runs import reader as reader_module
from automem.runs.reader import RunReader
from automem.traces import CommandRecord, MessageRecord, ObservationRecord, Trace
from automem.traces.query import query

STEPS = 40
EPISODE = "crafter__seed1"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reader") / "run"
    run(RunConfig(env="crafter", model="scripted", seeds=(1, 2), max_steps=STEPS), out)
    return out


@pytest.fixture
def copy(made: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(made, out, ignore=shutil.ignore_patterns(".lock", "*.index.json"))
    return out


def full(run_dir: Path, episode: str = EPISODE) -> Trace:
    return Trace.read(run_dir / "episodes" / episode / "trace.jsonl")


def records_of(trace: Trace, start: int, stop: int) -> list[object]:
    return [r for r in trace.records if start <= getattr(r, "step", -1) < stop]


def test_step_ranges_equal_the_full_parse(copy: Path) -> None:
    trace = full(copy)
    episode = RunReader(copy).trace(EPISODE)
    for start, stop in ((0, 1), (3, 9), (17, 18), (0, STEPS + 1), (STEPS - 2, STEPS + 5)):
        assert episode.steps(start, stop) == records_of(trace, start, stop), (start, stop)
    assert episode.steps(5) == records_of(trace, 5, 6)
    assert episode.header() == trace.header and episode.step_count() == STEPS
    assert (copy / "episodes" / EPISODE / "trace.index.json").is_file()
    with pytest.raises(ValueError, match="0 <= start < stop"):
        episode.steps(4, 4)


def test_memory_at_equals_rebuild_at_every_step(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_module, "CHECKPOINT_EVERY", 7)  # many checkpoints in 40 steps
    trace = full(copy)
    episode = RunReader(copy).trace(EPISODE)
    journal, header = trace.journal(), trace.header
    assert any(c.ok and c.op == "APPEND" for c in trace.commands)  # memory does change
    for step in (*range(STEPS), 6, 0, 13, 14):  # ascending, then back again (cached)
        expected = rebuild(journal, header.initial_files, step=step, limits=header.limits)
        assert episode.memory_at(step) == expected, step
    with pytest.raises(ValueError, match="past the last step"):
        episode.memory_at(STEPS + 10)


def test_file_history_matches_the_journal(copy: Path) -> None:
    trace = full(copy)
    header = trace.header
    episode = RunReader(copy).trace(EPISODE)
    final = rebuild(trace.journal(), header.initial_files, limits=header.limits)
    writes = [c for c in trace.commands if c.ok and c.op in ("APPEND", "WRITE", "CREATE")]
    for name in final:
        history = episode.file_history(name)
        mine = [c for c in writes if written_file(c.to_journal(), header.limits) == name]
        assert [(h.step, h.phase, h.op) for h in history] == [(c.step, c.phase, c.op) for c in mine]
        last_of_step = {change.step: change.content for change in history}
        for step, content in last_of_step.items():
            at = rebuild(trace.journal(), header.initial_files, step=step, limits=header.limits)
            assert at[name] == content, (name, step)
        assert (history[-1].content if history else header.initial_files[name]) == final[name]
    assert sum(len(episode.file_history(n)) for n in final) == len(writes) > 0
    with pytest.raises(ValueError, match="no memory file 'nope'; files: "):
        episode.file_history("nope")


def expected_hits(trace: Trace, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    """(step, kind) of every match, found the slow way from the whole trace."""
    out: list[tuple[int, int, str]] = []
    for i, r in enumerate(trace.records):
        if isinstance(r, ObservationRecord) and pattern.search(r.text + "\n" + r.short_term):
            out.append((r.step, i, "observation"))
        if isinstance(r, CommandRecord) and pattern.search(r.result):
            out.append((r.step, i, "result"))
    calls = [(i, r) for i, r in enumerate(trace.records) if getattr(r, "type", "") == "call"]
    for i, call in calls:
        reply = trace.messages.get(call.response) if call.response is not None else None
        if isinstance(reply, MessageRecord) and pattern.search(reply.content):
            out.append((call.step, i, "reply"))
    return [(step, kind) for step, _, kind in sorted(out)]


def test_search_finds_what_a_full_parse_finds(copy: Path) -> None:
    trace = full(copy)
    reader = RunReader(copy)
    hits = reader.search("tree", limit=10_000, episodes=[EPISODE])
    assert [(h.step, h.kind) for h in hits] == expected_hits(trace, re.compile("tree"))
    assert {h.kind for h in hits} == {"observation", "reply", "result"}
    regex = reader.trace(EPISODE).search(
        r"TREE \d+ steps?", regex=True, ignore_case=True, limit=10_000
    )
    assert [(h.step, h.kind) for h in regex] == expected_hits(
        trace, re.compile(r"TREE \d+ steps?", re.I)
    )
    for anchored in (r"^Noting", r"(?m)^- tree", r"\|>$", r"DONE|tree \d+ steps?\b"):
        found = reader.trace(EPISODE).search(anchored, regex=True, limit=10_000)
        expected = expected_hits(trace, re.compile(anchored))
        assert [(h.step, h.kind) for h in found] == expected and expected, anchored
    few = reader.trace(EPISODE).search(r"tree \d", regex=True, limit=7)
    assert [(h.step, h.kind) for h in few] == expected_hits(trace, re.compile(r"tree \d"))[:7]
    folded = reader.trace(EPISODE).search("TrEe", ignore_case=True, limit=10_000)
    assert [(h.step, h.kind) for h in folded] == expected_hits(trace, re.compile("tree", re.I))
    only = reader.search("tree", kinds=["result"], limit=3)
    assert len(only) == 3 and {h.kind for h in only} == {"result"}
    with pytest.raises(ValueError, match="search kinds"):
        reader.search("tree", kinds=["prompt"])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        reader.search("(", regex=True)


def test_search_names_the_step_of_a_known_string(copy: Path) -> None:
    trace = full(copy)
    command = next(c for c in trace.commands if c.step == 23 and c.result)
    unique = f"MARKER-{command.step}-{command.turn}"
    path = copy / "episodes" / EPISODE / "trace.jsonl"
    lines = path.read_text().splitlines()
    index = next(
        i
        for i, line in enumerate(lines)
        if json.loads(line) == json.loads(command.model_dump_json(exclude_none=True))
    )
    lines[index] = command.model_copy(
        update={"result": f"{command.result} {unique}"}
    ).model_dump_json()
    path.write_text("\n".join(lines) + "\n")
    hits = RunReader(copy).search(unique)
    assert [(h.episode, h.step, h.phase, h.kind) for h in hits] == [
        (EPISODE, 23, command.phase, "result")
    ]
    assert unique in hits[0].excerpt


def test_a_changed_trace_rebuilds_the_index(copy: Path) -> None:
    reader = RunReader(copy)
    episode = reader.trace(EPISODE)
    assert len(episode.steps(0, STEPS)) > 0
    path = episode.trace_path
    lines = path.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if '"type":"step","step":9,' in line)
    path.write_text("".join(lines[: cut + 1]))  # the episode as if it ended at step 9
    shorter = Trace.read(path)
    assert episode.steps(0, STEPS) == records_of(shorter, 0, STEPS)  # same reader, stale index
    assert RunReader(copy).trace(EPISODE).steps(0, STEPS) == records_of(shorter, 0, STEPS)
    stored = json.loads(episode.index_path.read_text())
    assert stored["trace_size"] == path.stat().st_size and stored["steps"] == 10


def test_a_corrupt_index_is_rebuilt_not_trusted(copy: Path) -> None:
    trace = full(copy)
    episode = RunReader(copy).trace(EPISODE)
    episode.steps(0, 1)
    index_path = episode.index_path
    good = json.loads(index_path.read_text())
    index_path.write_text("{not json")
    assert RunReader(copy).trace(EPISODE).steps(2, 6) == records_of(trace, 2, 6)
    # Well formed and keyed to this trace, but every offset shifted: caught when read.
    shifted = {**good, "segments": [[s, a + 3, b + 3] for s, a, b in good["segments"][:-1]]}
    index_path.write_text(json.dumps(shifted))
    assert RunReader(copy).trace(EPISODE).steps(2, 6) == records_of(trace, 2, 6)
    # Offsets on line starts, but of other steps: caught by the records' own step.
    swapped = [[s + 1 if s >= 0 else s, a, b] for s, a, b in good["segments"]]
    index_path.write_text(json.dumps({**good, "segments": swapped}))
    assert RunReader(copy).trace(EPISODE).steps(2, 6) == records_of(trace, 2, 6)
    assert json.loads(index_path.read_text()) == good  # rebuilt and stored again
    writes = [[s, a + 1, b + 1] for s, a, b in good["writes"]]
    index_path.write_text(json.dumps({**good, "writes": writes}))
    header = trace.header
    expected = rebuild(trace.journal(), header.initial_files, step=30, limits=header.limits)
    assert RunReader(copy).trace(EPISODE).memory_at(30) == expected


def test_an_unwritable_index_stays_in_memory(copy: Path) -> None:
    index_path = copy / "episodes" / EPISODE / "trace.index.json"
    index_path.mkdir()  # the index cannot be written there (as in a read-only run directory)
    trace = full(copy)
    assert RunReader(copy).trace(EPISODE).steps(1, 3) == records_of(trace, 1, 3)
    assert sorted(p.name for p in index_path.parent.iterdir()) == [
        "memory",
        "result.json",
        "trace.index.json",
        "trace.jsonl",
    ]
    untouched = RunReader(copy, write_index=False).trace("crafter__seed2")
    assert untouched.steps(0, 2) == records_of(full(copy, "crafter__seed2"), 0, 2)
    assert not (copy / "episodes" / "crafter__seed2" / "trace.index.json").exists()


def test_hostile_episode_ids_and_links_are_refused(copy: Path, tmp_path: Path) -> None:
    reader = RunReader(copy)
    for hostile in ("../run", "..", ".stopped", ".partial", "/etc", f"{EPISODE}/../..", ""):
        with pytest.raises(RunDirError, match=r"no episode .* episodes: crafter__seed1"):
            reader.trace(hostile)
    outside = tmp_path / "outside"
    shutil.copytree(copy / "episodes" / "crafter__seed2", outside)
    shutil.rmtree(copy / "episodes" / "crafter__seed2")
    os.symlink(outside, copy / "episodes" / "crafter__seed2")
    with pytest.raises(RunDirError, match="leads outside the run directory"):
        RunReader(copy).trace("crafter__seed2")
    os.unlink(copy / "episodes" / "crafter__seed2")
    shutil.copytree(outside, copy / "episodes" / "crafter__seed2")
    trace_file = copy / "episodes" / "crafter__seed2" / "trace.jsonl"
    trace_file.unlink()
    os.symlink(outside / "trace.jsonl", trace_file)
    with pytest.raises(RunDirError, match="leads outside the run directory"):
        RunReader(copy).trace("crafter__seed2")


def stop(run_dir: Path, episode: str, *, old_layout: bool) -> None:
    """Mark an episode stopped: under .stopped (today) or in place (an older run)."""
    folder = run_dir / "episodes" / episode
    if not old_layout:
        (run_dir / "episodes" / ".stopped").mkdir(exist_ok=True)
        folder = folder.rename(run_dir / "episodes" / ".stopped" / episode)
    result = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps({**result, "status": "stopped"}))


def test_stopped_episodes_are_apart_and_still_readable(copy: Path) -> None:
    stop(copy, "crafter__seed2", old_layout=False)
    reader = RunReader(copy)
    scan = reader.episodes()
    assert list(scan.finished) == [EPISODE] and list(scan.stopped) == ["crafter__seed2"]
    assert scan.finished[EPISODE].behaviour is not None
    assert [p.parent.name for _, p in reader.finished()] == [EPISODE]
    stopped = reader.trace("crafter__seed2")
    assert stopped.trace_path.parent.parent.name == ".stopped"
    assert stopped.steps(0, 2) == records_of(Trace.read(stopped.trace_path), 0, 2)


def test_query_counts_no_stopped_episode(copy: Path) -> None:
    stop(copy, "crafter__seed2", old_layout=True)
    _, rows = query([copy], "SELECT DISTINCT episode FROM steps ORDER BY 1")
    assert rows == [(EPISODE,)]
