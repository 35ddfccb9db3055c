"""Behavioural statistics on a hand-made episode whose every number is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem.memory import views
from automem.traces import Trace, TraceError
from automem.traces.stats import episode_stats, mean_rates
from tests.conftest import play

REPLIES = [
    # step 0 PLAN: an empty search, then a no-effect action
    "<|SEARCH|>strategy|go<|END|>",
    "<|ACTION|>wait<|END|>",
    # step 1 LOG: the same line appended twice (the second is redundant)
    "<|APPEND|>strategy|go right now<|END|><|APPEND|>strategy|go right now<|END|><|DONE|>",
    # step 1 PLAN: a read whose content the model then uses; the action earns a reward
    "<|READ|>strategy<|END|>",
    "My notes say: go right now.\n<|ACTION|>right<|END|>",
    # step 2 LOG: a write, then the same write again (redundant)
    "<|WRITE|>plan|a<|END|><|WRITE|>plan|a<|END|><|DONE|>",
    # step 2 PLAN: an invalid action
    "<|ACTION|>jump<|END|>",
]


def test_every_statistic_of_a_known_episode(tmp_path: Path) -> None:
    trace, _ = play(tmp_path, REPLIES, max_steps=3)
    stats = episode_stats(trace)
    assert stats.steps == 3
    assert stats.invalid_actions == 1
    assert stats.unchanged_observations == 2  # wait, and the invalid jump that ran wait
    assert stats.unproductive_actions == 2
    assert stats.unproductive_rate == pytest.approx(2 / 3)
    assert (stats.writes, stats.redundant_writes) == (4, 2)
    assert (stats.searches, stats.empty_searches) == (1, 1)
    assert (stats.reads, stats.reads_used) == (2, 1)
    assert stats.writes_per_search == 4.0
    assert stats.reward_events == 1
    assert stats.longest_zero_reward_streak == 1
    assert stats.mean_zero_reward_streak == 1.0  # step 0, then step 2: two streaks of one
    assert stats.model_calls == len(REPLIES)
    assert stats.prompt_tokens == 10 * len(REPLIES)  # ListModel reports 10 per call
    assert stats.fallbacks == 0 and stats.model_errors == 0


def test_pooled_rates_over_episodes(tmp_path: Path) -> None:
    first, _ = play(tmp_path / "a", REPLIES, max_steps=3)
    second, _ = play(tmp_path / "b", ["<|ACTION|>right<|END|>"], max_steps=1)
    rates = mean_rates([episode_stats(first), episode_stats(second)])
    assert rates["unproductive_rate"] == pytest.approx(2 / 4)
    assert rates["redundant_write_rate"] == pytest.approx(2 / 4)
    assert rates["input_tokens_per_step"] == pytest.approx(10 * (len(REPLIES) + 1) / 4)


def test_empty_searches_come_from_the_count_not_the_wording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "_matches", lambda n: f"found {n} line(s)")
    trace, _ = play(tmp_path, REPLIES, max_steps=3)
    search = next(c for c in trace.commands if c.op == "SEARCH")
    assert search.result == 'found 0 line(s) in strategy for "go"'  # the new wording was shown
    stats = episode_stats(trace)
    assert (stats.searches, stats.empty_searches) == (1, 1)


def as_version_1(path: Path, *, keep_version: bool = False) -> Path:
    """The trace as schema v1 wrote it: no ``matches`` in command records."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    if not keep_version:
        records[0]["schema_version"] = 1
    for record in records:
        record.pop("matches", None)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_version_1_traces_read_empty_searches_from_their_wording(tmp_path: Path) -> None:
    play(tmp_path, REPLIES, max_steps=3)
    old = Trace.read(as_version_1(tmp_path / "trace.jsonl"))
    assert old.header.schema_version == 1
    assert all(c.matches is None for c in old.commands)
    assert (episode_stats(old).searches, episode_stats(old).empty_searches) == (1, 1)


def test_a_current_trace_without_the_count_is_refused(tmp_path: Path) -> None:
    play(tmp_path, REPLIES, max_steps=3)
    broken = Trace.read(as_version_1(tmp_path / "trace.jsonl", keep_version=True))
    with pytest.raises(TraceError, match=r"SEARCH record of step 0 \(turn 0\) has no 'matches'"):
        episode_stats(broken)


def test_mean_zero_reward_streak_averages_the_maximal_runs(tmp_path: Path) -> None:
    # right earns a reward when it reaches a new cell: wait, wait, right, wait, wait, wait
    # gives zero-reward runs of 2 and 3 steps.
    plans = ["wait", "wait", "right", "wait", "wait", "wait"]
    replies = [f"<|ACTION|>{plans[0]}<|END|>"]
    for action in plans[1:]:
        replies += ["<|DONE|>", f"<|ACTION|>{action}<|END|>"]
    trace, _ = play(tmp_path, replies, max_steps=len(plans))
    stats = episode_stats(trace)
    assert [s.reward > 0 for s in trace.steps] == [False, False, True, False, False, False]
    assert stats.longest_zero_reward_streak == 3
    assert stats.mean_zero_reward_streak == pytest.approx(2.5)
