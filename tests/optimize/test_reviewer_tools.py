"""The reviewer's read-only tools on a real MiniHack run directory, hostile input included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from automem.optimize.review import EarlierAttempt, FailedCandidate
from automem.optimize.reviewer_tools import (
    MAX_RESULT_CHARS,
    CatalogueArgs,
    FileHistoryArgs,
    LineageArgs,
    MemoryAtArgs,
    NoArgs,
    ReadSteps,
    ReviewTools,
    RunArgs,
    ScaffoldArgs,
    SearchArgs,
)
from automem.runs.reader import RunReader
from automem.traces import Trace
from automem.traces.schema import CallRecord, StepRecord
from automem.traces.stats import episode_stats
from tests.optimize.reviewer_setup import (
    EPISODES,
    child_patch,
    child_yaml,
    context,
    minihack_run,
    snapshot,
)

__all__ = ["minihack_run"]  # the session fixture: a real MiniHack run


def tools(run: Path, **fields: object) -> ReviewTools:
    return ReviewTools(context((run,), **fields))


def call(box: ReviewTools, name: str, args: BaseModel) -> str:
    return box.run(name, args)


def test_list_episodes_gives_each_episodes_figures(minihack_run: Path) -> None:
    text = call(tools(minihack_run), "list_episodes", RunArgs(run="parent-0"))
    lines = text.splitlines()
    assert lines[0] == ("run parent-0: minihack/MiniHack-MazeWalk-9x9-v0 seeds 1,2 max_steps 20")
    for episode in EPISODES:
        trace = Trace.read(minihack_run / "episodes" / episode / "trace.jsonl")
        stats = episode_stats(trace)
        (line,) = [x for x in lines if x.startswith(f"{episode}:")]
        rewards = [s.step for s in trace.of_type(StepRecord) if s.reward > 0]
        assert f"{stats.steps} steps" in line
        assert f"{stats.reward_events} reward events" in line
        if rewards:
            assert f"at steps {', '.join(map(str, rewards))}" in line
        assert f"invalid actions {stats.invalid_actions}," in line
        assert f"unchanged observations {stats.unchanged_observations} " in line
        assert f"longest {stats.longest_zero_reward_streak}, mean " in line
        assert f"mean {stats.mean_zero_reward_streak:.1f} " in line
        assert f"writes {stats.writes} ({stats.redundant_writes} redundant)" in line
        assert f"searches {stats.searches} ({stats.empty_searches} empty)" in line
        assert f"fallbacks {stats.fallbacks}, refused commands {stats.refused_commands}" in line
        assert f"tokens per step {stats.input_tokens_per_step:.0f} in" in line
    mean = sum(
        json.loads((minihack_run / "episodes" / e / "result.json").read_text())["progression"]
        for e in EPISODES
    ) / len(EPISODES)
    assert lines[1].startswith(f"2 finished episodes, mean progression {mean:.1%}")


def test_read_steps_renders_a_range_and_refuses_a_long_or_late_one(minihack_run: Path) -> None:
    box = tools(minihack_run)
    episode = EPISODES[0]
    text = call(box, "read_steps", ReadSteps(run="parent-0", episode=episode, start=2, stop=4))
    reader = RunReader(minihack_run).trace(episode)
    steps = [r for r in reader.steps(2, 4) if isinstance(r, StepRecord)]
    assert text.startswith(f"episode {episode}, steps 2..3 of 20:")
    assert "== step 2 ==" in text and "== step 3 ==" in text and "== step 4 ==" not in text
    for step in steps:
        assert f"step {step.step}: action {step.action!r}" in text
    assert "[log turn 0] model replied" in text and "[plan turn 0] model replied" in text
    assert "observation:" in text and "prompt:" not in text
    with pytest.raises(ValueError, match="at most start\\+20"):
        call(box, "read_steps", ReadSteps(run="parent-0", episode=episode, start=0, stop=21))
    with pytest.raises(ValueError, match="has 20 steps"):
        call(box, "read_steps", ReadSteps(run="parent-0", episode=episode, start=25))


def test_a_long_result_is_capped_with_a_note(minihack_run: Path) -> None:
    args = ReadSteps(run="parent-0", episode=EPISODES[0], start=0, stop=20, prompts=True)
    text = call(tools(minihack_run), "read_steps", args)
    assert len(text) < MAX_RESULT_CHARS + 300
    assert text.endswith(
        "ask for a narrower range: fewer steps, one episode or file, a smaller limit]"
    )
    assert f"[truncated at {MAX_RESULT_CHARS} of " in text


def test_search_returns_step_references(minihack_run: Path) -> None:
    box = tools(minihack_run)
    text = call(box, "search", SearchArgs(run="parent-0", pattern="stairs", limit=200))
    expected = RunReader(minihack_run).search("stairs", ignore_case=True, limit=200)
    lines = text.splitlines()
    assert lines[0] == f"{len(expected)} matches" and len(expected) > 3
    assert lines[1:] == [
        f"{h.episode} step {h.step} {h.phase or '-'} {h.kind}: {h.excerpt}" for h in expected
    ]
    one = call(
        box,
        "search",
        SearchArgs(run="parent-0", pattern=r"APPEND\|>\w+", regex=True, episode=EPISODES[1]),
    )
    assert one.splitlines()[1].startswith(f"{EPISODES[1]} step ")
    assert all(EPISODES[0] not in line for line in one.splitlines())
    capped = call(box, "search", SearchArgs(run="parent-0", pattern="stairs", limit=2))
    assert capped.splitlines()[0].startswith("2 matches (the limit: there may be more")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        call(box, "search", SearchArgs(run="parent-0", pattern="(", regex=True))


@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w*x)*y", "(ab{2,})+", "((a|b)*c)*"])
def test_a_regex_with_nested_repeats_is_refused(minihack_run: Path, pattern: str) -> None:
    with pytest.raises(ValueError, match="can take exponential time"):
        call(tools(minihack_run), "search", SearchArgs(run="parent-0", pattern=pattern, regex=True))


@pytest.mark.parametrize("pattern", [r"collect_\w+|place_table", r"(north|south)+", r"\(a+\)+"])
def test_a_regex_without_nested_repeats_runs(minihack_run: Path, pattern: str) -> None:
    text = call(
        tools(minihack_run), "search", SearchArgs(run="parent-0", pattern=pattern, regex=True)
    )
    assert text.split(" ", 1)[1].startswith("matches")


def test_memory_at_and_file_history_match_the_reader(minihack_run: Path) -> None:
    box = tools(minihack_run)
    episode = EPISODES[0]
    files = RunReader(minihack_run).trace(episode).memory_at(10)
    text = call(box, "memory_at", MemoryAtArgs(run="parent-0", episode=episode, step=10))
    assert text.startswith(f"memory of {episode} after step 10 ({len(files)} files):")
    for name, content in files.items():
        assert f"--- {name} ({len(content)} chars" in text
    written = max(files, key=lambda name: len(files[name]))  # the scripted model's notes
    other = min(files, key=lambda name: len(files[name]))
    one = call(
        box, "memory_at", MemoryAtArgs(run="parent-0", episode=episode, step=10, file=written)
    )
    assert files[written].splitlines()[-1] in one and f"--- {other} " not in one
    with pytest.raises(ValueError, match="no file 'nope' at step 10; files: actions_log, "):
        call(box, "memory_at", MemoryAtArgs(run="parent-0", episode=episode, step=10, file="nope"))
    trace = RunReader(minihack_run).trace(episode)
    busiest = max(files, key=lambda name: len(trace.file_history(name)))
    changes = trace.file_history(busiest)
    history = call(
        box, "file_history", FileHistoryArgs(run="parent-0", episode=episode, file=busiest)
    )
    assert history.startswith(f"{busiest} in {episode}: {len(changes)} changes")
    for change in changes:
        assert f"step {change.step} {change.phase} {change.op} -> {len(change.content)}" in history
    middle = changes[len(changes) // 2].step
    later = call(
        box,
        "file_history",
        FileHistoryArgs(run="parent-0", episode=episode, file=busiest, start=middle),
    )
    shown = [c for c in changes if c.step >= middle]
    assert f"{len(shown)} shown" in later and 0 < len(shown) < len(changes)
    assert f"step {changes[0].step} " not in later


def test_the_optimisation_tools(minihack_run: Path) -> None:
    earlier = EarlierAttempt(
        id="v1-a1",
        version=1,
        kind="fresh",
        parent="minihack-v0",
        candidate="minihack-v1",
        description="auto_log on",
        verdict="rejected",
        reason="gate: no gain",
        scores={"gate_parent": 0.5, "gate_child": 0.5},
        diff=child_patch(),
    )
    box = tools(minihack_run, earlier=(earlier,))
    assert call(box, "current_scaffold", ScaffoldArgs()) == box.context.parent_text
    numbered = call(box, "current_scaffold", ScaffoldArgs(numbered=True)).splitlines()
    assert numbered[0] == "   1 schema_version: 1"
    catalogue = call(box, "helper_catalogue", CatalogueArgs())
    assert "stairs_finder (nethack, minihack):" in catalogue and "vitals" not in catalogue
    entry = json.loads(call(box, "helper_catalogue", CatalogueArgs(name="auto_log")))
    assert entry["params"]["properties"]["file"]["default"] == "actions_log"
    with pytest.raises(ValueError, match="no helper 'vitals' for minihack"):
        call(box, "helper_catalogue", CatalogueArgs(name="vitals"))
    lineage = call(box, "lineage", LineageArgs())
    assert lineage.startswith("v1-a1 (version 1, fresh, revising minihack-v0): rejected: gate")
    assert "gate_parent 0.500" in lineage and "+- name: auto_log" in lineage
    with pytest.raises(ValueError, match="no earlier attempt 'v9'; attempts: v1-a1"):
        call(box, "lineage", LineageArgs(attempt="v9"))
    assert "failed_candidate" not in [t.name for t in box.tools()]


def test_a_continuation_reads_the_failed_candidates_runs(
    minihack_run: Path, tmp_path: Path
) -> None:
    failed_run = tmp_path / "failed-run"
    shutil.copytree(minihack_run, failed_run)
    failed = FailedCandidate(
        attempt="v1-a1",
        scaffold_text=child_yaml(),
        diff=child_patch(),
        scores={"gate_child": 0.25},
        runs=(failed_run,),
    )
    box = tools(minihack_run, continuation_of=failed)
    assert "failed_candidate" in [t.name for t in box.tools()]
    text = call(box, "failed_candidate", NoArgs())
    assert text.startswith("attempt v1-a1; scores: gate_child 0.250; its runs: failed-0")
    assert child_yaml() in text
    assert call(box, "list_episodes", RunArgs(run="failed-0")).startswith("run failed-0:")


@pytest.mark.parametrize("alias", ["parent-1", "/etc", "../parent-0", "failed-0", ""])
def test_unknown_run_aliases_are_refused(minihack_run: Path, alias: str) -> None:
    with pytest.raises(ValueError, match=r"unknown run .*; the runs are: parent-0$"):
        call(tools(minihack_run), "list_episodes", RunArgs(run=alias))


@pytest.mark.parametrize("episode", ["..", "../../run.json", "/etc/passwd", ".partial", "x"])
def test_episode_ids_that_are_not_the_runs_are_refused(minihack_run: Path, episode: str) -> None:
    with pytest.raises(ValueError, match=r"no episode .* episodes: minihack__"):
        call(tools(minihack_run), "read_steps", ReadSteps(run="parent-0", episode=episode, start=0))


def test_an_episode_folder_linking_outside_the_run_is_refused(
    minihack_run: Path, tmp_path: Path
) -> None:
    run_copy = tmp_path / "run"
    shutil.copytree(minihack_run, run_copy)
    outside = tmp_path / "outside"
    (run_copy / "episodes" / EPISODES[1]).rename(outside)
    (run_copy / "episodes" / EPISODES[1]).symlink_to(outside)
    box = tools(run_copy)
    with pytest.raises(ValueError, match="leads outside the run directory"):
        call(box, "memory_at", MemoryAtArgs(run="parent-0", episode=EPISODES[1], step=0))


def test_the_tools_write_nothing(minihack_run: Path, tmp_path: Path) -> None:
    run_copy = tmp_path / "run"
    shutil.copytree(minihack_run, run_copy)
    before = snapshot(run_copy)
    box = tools(run_copy)
    call(box, "list_episodes", RunArgs(run="parent-0"))
    call(box, "read_steps", ReadSteps(run="parent-0", episode=EPISODES[0], start=0, stop=5))
    call(box, "search", SearchArgs(run="parent-0", pattern="east"))
    call(box, "memory_at", MemoryAtArgs(run="parent-0", episode=EPISODES[0], step=3))
    assert snapshot(run_copy) == before  # no index, no cache, nothing


def test_a_reply_stored_at_an_earlier_step_is_shown_where_it_was_given(
    minihack_run: Path,
) -> None:
    # A reply repeated word for word is stored once: the call of a later step refers to it.
    episode = EPISODES[0]
    trace = Trace.read(minihack_run / "episodes" / episode / "trace.jsonl")
    first_step = {m.id: m.step for m in trace.messages.values()}
    repeated = [
        c
        for c in trace.of_type(CallRecord)
        if c.response is not None and first_step[c.response] < c.step
    ]
    assert repeated, "the scripted model repeats some reply in 20 steps"
    call_record = repeated[0]
    text = call(
        tools(minihack_run),
        "read_steps",
        ReadSteps(run="parent-0", episode=episode, start=call_record.step),
    )
    reply = trace.messages[call_record.response].content
    where = f"[{call_record.phase} turn {call_record.turn}] model replied"
    assert where in text and reply.splitlines()[-1] in text
    assert "(reply not found in the trace)" not in text
    found = RunReader(minihack_run).trace(episode).replies([call_record.response])
    assert found[call_record.response].content == reply
