"""Helpers: the registry, the stuck detector, and neighbour map analysis on real NLE screens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem.agent.helpers import (
    Helper,
    HelperContext,
    build_helpers,
    helper_names,
    register_helper,
)
from automem.agent.stuck import StuckDetector, StuckParams
from automem.core import Observation, StepResult
from automem.envs.nle_map import NeighbourMap, NeighbourParams, neighbours
from automem.memory import MemoryStore, rebuild
from automem.scaffold import HelperConfig, load
from tests.conftest import DATA, LineEnv, play


def result(action: str, text: str, reward: float = 0.0, progression: float = 0.0) -> StepResult:
    return StepResult(
        observation=Observation(text=text),
        reward=reward,
        terminated=False,
        truncated=False,
        progression=progression,
        action=action,
        valid=True,
    )


def feed(helper: StuckDetector, ctx: HelperContext, steps: list[tuple[str, str]]) -> None:
    for action, text in steps:
        r = result(action, text)
        helper.after_step(ctx, r)
        ctx.observation, ctx.last_result = r.observation, r
        helper.on_observation(ctx)


@pytest.fixture
def ctx(tmp_path: Path) -> HelperContext:
    ctx = HelperContext(env=LineEnv(), memory=MemoryStore(tmp_path / "m", initial_files={}))
    ctx.observation = Observation(text="start")
    return ctx


def test_registry_validates_names_and_params() -> None:
    assert {"stuck_detector", "neighbour_map"} <= set(helper_names())
    with pytest.raises(
        ValueError, match=r"unknown helper 'stuck_detecter'\. Did you mean 'stuck_detector'"
    ):
        build_helpers([HelperConfig(name="stuck_detecter")])
    with pytest.raises(ValueError, match="helper 'stuck_detector': invalid params: repeat"):
        build_helpers([HelperConfig(name="stuck_detector", params={"repeat": 1})])
    with pytest.raises(ValueError, match="Extra inputs"):
        build_helpers([HelperConfig(name="stuck_detector", params={"bogus": 1})])


def test_stuck_detector_sees_repetition(ctx: HelperContext) -> None:
    helper = StuckDetector(StuckParams(repeat=3))
    helper.on_observation(ctx)
    feed(helper, ctx, [("Do", "start")] * 2)
    assert helper.prompt_context(ctx, "plan") is None
    feed(helper, ctx, [("Do", "start")])
    text = helper.prompt_context(ctx, "plan")
    assert text is not None and "repeated 'Do' 3 times" in text
    assert helper.prompt_context(ctx, "log") is None  # only the phases it is set for


def test_stuck_detector_sees_oscillation_but_not_progress(ctx: HelperContext) -> None:
    helper = StuckDetector(StuckParams(oscillation=2))
    helper.on_observation(ctx)
    feed(helper, ctx, [("left", "a"), ("right", "start"), ("left", "a"), ("right", "start")])
    text = helper.prompt_context(ctx, "plan")
    assert text is not None and "back and forth between 'left' and 'right'" in text
    walker = StuckDetector(StuckParams(oscillation=2))
    walker.on_observation(ctx)
    feed(walker, ctx, [("left", "a"), ("right", "b"), ("left", "c"), ("right", "d")])
    assert walker.prompt_context(ctx, "plan") is None


def test_stuck_detector_sees_stagnation(ctx: HelperContext) -> None:
    helper = StuckDetector(StuckParams(stagnation=5))
    helper.on_observation(ctx)
    feed(helper, ctx, [("a", str(i)) for i in range(5)])
    text = helper.prompt_context(ctx, "plan")
    assert text is not None and "No reward for 5 steps" in text


def _screen_case(index: int) -> tuple[str, dict]:
    path = DATA / "nle_language_examples.json"
    case = json.loads(path.read_text())["cases"][index]
    tty = case["input"]["tty_chars"]
    rows = ["".join(chr(c) for c in row) for row in tty]
    y, x = case["input"]["tty_cursor"]
    text = (
        "cursor:\n"
        + case["expected"]["cursor"]
        + f"\n(x={x}, y={y})\n\nmap:\n"
        + "\n".join(rows[1:])
    )
    return text, case


def test_neighbour_map_on_a_real_nethack_screen() -> None:
    text, case = _screen_case(0)
    cells = neighbours(text)
    assert cells is not None
    # The benchmark's own description says: "tame little dog adjacent north".
    assert "tame little dog adjacent north" in case["expected"]["language_observation"]
    assert cells["north"] == ("d", "monster or pet")
    helper = NeighbourMap(NeighbourParams())
    ctx = HelperContext(env=LineEnv(), memory=None, observation=Observation(text=text))  # type: ignore[arg-type]
    described = helper.prompt_context(ctx, "plan")
    assert described is not None and "north: 'd' monster or pet" in described
    assert described.count(":") >= 9


def test_neighbour_map_without_a_map_says_nothing() -> None:
    assert neighbours("You see a tree.") is None


def test_helpers_reach_the_prompt_in_a_real_episode(tmp_path: Path) -> None:
    scaffold = load("crafter-v0")
    scaffold = scaffold.model_copy(
        update={"helpers": (HelperConfig(name="stuck_detector", params={"repeat": 2}),)}
    )
    replies = ["<|ACTION|>wait<|END|>"] + ["<|DONE|>", "<|ACTION|>wait<|END|>"] * 2
    trace, model = play(tmp_path, replies, max_steps=3, scaffold=scaffold)
    plan_prompts = [r.messages[1].content for r in model.requests if r.phase == "plan"]
    assert "STUCK:" not in plan_prompts[1]
    assert "STUCK: You repeated 'wait' 2 times" in plan_prompts[2]
    assert trace.end is not None


class StatusFile(Helper):
    """Rewrites a status file by code after every step (like NetHack v2's status helper)."""

    name = "test_status_file"

    def after_step(self, ctx: HelperContext, result: StepResult) -> None:
        ctx.memory.write_by_code("status", f"step {ctx.step}: {result.action}", step=ctx.step)


def test_helper_writes_are_traced_and_rebuild_from_the_journal(tmp_path: Path) -> None:
    register_helper("test_status_file", StatusFile, overwrite=True)
    scaffold = load("crafter-v0")
    scaffold = scaffold.model_copy(update={"helpers": (HelperConfig(name="test_status_file"),)})
    replies = ["<|ACTION|>right<|END|>", "<|READ|>status<|END|><|DONE|>", "<|ACTION|>left<|END|>"]
    trace, _ = play(tmp_path, replies, max_steps=2, scaffold=scaffold)
    helper_writes = [c for c in trace.commands if c.phase == "helper"]
    assert [(c.step, c.op, c.turn) for c in helper_writes] == [(0, "WRITE", -1), (1, "WRITE", -1)]
    read = next(c for c in trace.commands if c.op == "READ")
    assert read.result == "step 0: right"  # the model saw the helper's file
    rebuilt = rebuild(trace.journal(), trace.header.initial_files, limits=trace.header.limits)
    assert rebuilt["status"] == (tmp_path / "memory" / "status").read_text() == "step 1: left\n"


def test_neighbour_map_on_the_real_nethack_env() -> None:
    from automem import envs

    env = envs.make("nethack")
    try:
        observation = env.reset(42)
    finally:
        env.close()
    cells = neighbours(observation.text)
    assert cells is not None and len(cells) == 8
    lines = observation.text.split("\n")
    grid = lines[lines.index("map:") + 1 :]
    cursor_line = next(line for line in lines if line.startswith("(x="))
    x, y = (int(part.split("=")[1]) for part in cursor_line.strip("()").split(", "))
    assert grid[y - 1][x] == "@"  # the helper's geometry: terminal row y is map line y - 1
    assert cells["east"][0] == grid[y - 1][x + 1]
