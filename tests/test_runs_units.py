"""Seeds, summaries and the scripted model: small pure functions checked by hand."""

from __future__ import annotations

import math

import pytest

from automem.core import CompletionRequest, Message
from automem.memory import parse_commands
from automem.models import ScriptedModel, load_model
from automem.runs import (
    RunConfig,
    TaskConfig,
    mean_se,
    parse_seeds,
    summarise,
)
from tests.conftest import finished_episode as episode


@pytest.mark.parametrize(
    ("text", "episodes", "seeds"),
    [
        ("42", None, (42,)),
        ("42,43", None, (42, 43)),
        ("42-45", None, (42, 43, 44, 45)),
        ("1,5-7", None, (1, 5, 6, 7)),
        ("42", 3, (42, 43, 44)),
        ("7,9", 2, (7, 9)),
    ],
)
def test_parse_seeds(text: str, episodes: int | None, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text, episodes) == seeds


@pytest.mark.parametrize(
    ("text", "episodes", "message"),
    [
        ("x", None, "bad seed 'x'"),
        ("5-3", None, "runs backwards"),
        ("", None, "no seeds"),
        ("1,2,3", 2, "does not match the 3 seeds"),
        ("4", 0, "at least 1"),
    ],
)
def test_bad_seeds_are_explained(text: str, episodes: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_seeds(text, episodes)


def test_mean_and_standard_error_by_hand() -> None:
    stat = mean_se([0.0, 0.5, 1.0])
    assert stat.mean == pytest.approx(0.5)
    assert stat.se == pytest.approx(0.5 / math.sqrt(3))  # sample sd 0.5, n 3
    assert mean_se([0.3]).se == 0.0


def test_summary_means_per_task_then_game_then_over_games() -> None:
    runs = [
        episode("minihack/A", "minihack", 1, 1.0),
        episode("minihack/A", "minihack", 2, 0.0),
        episode("minihack/B", "minihack", 1, 1.0),
        episode("minihack/B", "minihack", 2, 1.0),
        episode("minihack/B", "minihack", 3, 1.0),
        episode("crafter", "crafter", 42, 0.25),
    ]
    summary = summarise(runs)
    assert summary.tasks["minihack/A"].progression.mean == pytest.approx(0.5)
    assert summary.tasks["minihack/A"].progression.se == pytest.approx(0.5)
    assert summary.tasks["minihack/B"].progression.mean == pytest.approx(1.0)
    # Game: mean of task means (0.5 and 1.0), not the mean over its five episodes (0.8).
    assert summary.games["minihack"].progression.mean == pytest.approx(0.75)
    assert summary.games["minihack"].progression.se == pytest.approx(math.sqrt(0.25) / 2)
    assert summary.games["minihack"].episodes == 5
    assert summary.overall is not None
    assert summary.overall.progression.mean == pytest.approx((0.75 + 0.25) / 2)
    assert summary.overall.tokens_per_step == pytest.approx(110 / 10)
    assert [e.seed for e in summary.per_episode] == [42, 1, 2, 1, 2, 3]


def _request(phase: str, messages: int = 2) -> CompletionRequest:
    msgs = [
        Message(role="system", content="s"),
        Message(role="user", content="Current observation:\nYou see a tree."),
    ]
    msgs += [Message(role="assistant", content="x"), Message(role="user", content="r")] * (
        messages - 2
    )
    ops = ("SEARCH", "READ", "APPEND", "WRITE", "DONE") if phase == "log" else ("SEARCH", "ACTION")
    return CompletionRequest(
        messages=tuple(msgs),
        phase=phase,
        allowed_ops=ops,  # type: ignore[arg-type]
        actions=("Noop", "Do"),
        memory_files=("notes", "strategy"),
    )


def test_scripted_model_is_deterministic_by_seed_and_speaks_the_vocabulary() -> None:
    replies = [
        [ScriptedModel(seed).complete(_request(p)).text for p in ("log", "plan") * 20]
        for seed in (1, 1, 2)
    ]
    assert replies[0] == replies[1] and replies[0] != replies[2]
    for text in replies[0]:
        parsed = parse_commands(text)
        assert parsed.commands, text
        for command in parsed.commands:
            assert command.op in {
                "SEARCH",
                "READ",
                "TAIL",
                "COUNT",
                "APPEND",
                "WRITE",
                "DONE",
                "ACTION",
            }


def test_model_specs_resolve_and_errors_are_clear() -> None:
    assert load_model("scripted:slip=0.3", seed=2).identity.details == {"seed": 2, "slip_rate": 0.3}
    with pytest.raises(ValueError, match="unknown model backend 'gpt'"):
        load_model("gpt:foo")
    with pytest.raises(ValueError, match="unknown option"):
        load_model("scripted:temp=1")
    with pytest.raises(ValueError, match="takes no name"):
        load_model("scripted:oops")
    with pytest.raises(ValueError, match="one model name expected"):
        load_model("scripted:a,b")


def test_run_config_single_task_shorthand_and_multi_task_checks() -> None:
    flat = RunConfig(env="crafter", model="scripted", seeds=(1, 2), max_steps=5)
    assert flat.tasks == (TaskConfig(env="crafter", seeds=(1, 2), max_steps=5),)
    assert flat.tasks[0].scaffold_ref == "crafter-v0"
    assert TaskConfig(env="minihack/MiniHack-Quest-Easy-v0", seeds=(1,)).scaffold_ref == (
        "minihack-v0"
    )
    with pytest.raises(ValueError, match="one task only"):
        RunConfig(model="scripted", tasks=[{"env": "crafter", "seeds": [1]}] * 2)
    with pytest.raises(ValueError, match="seeds must be distinct"):
        RunConfig(env="crafter", model="scripted", seeds=(1, 1))


def test_a_stopped_or_failed_episode_is_listed_apart_and_never_averaged() -> None:
    finished = episode("crafter", "crafter", 1, 0.5)
    stopped = episode("crafter", "crafter", 2, 0.0).model_copy(
        update={"status": "stopped", "reason": "budget: token budget exhausted", "steps": 3}
    )
    failed = episode("crafter", "crafter", 3, 0.0).model_copy(
        update={"status": "error", "reason": "RuntimeError: boom"}
    )
    summary = summarise([stopped, finished, failed])
    assert summary.episodes == 1 and [e.seed for e in summary.per_episode] == [1]
    assert summary.tasks["crafter"].episodes == 1
    assert summary.tasks["crafter"].progression.mean == 0.5
    assert summary.overall is not None and summary.overall.steps.mean == 10
    listed = [(e.seed, e.status, e.reason, e.steps) for e in summary.not_finished["crafter"]]
    assert listed == [
        (2, "stopped", "budget: token budget exhausted", 3),
        (3, "error", "RuntimeError: boom", 10),
    ]
    only_stopped = summarise([stopped])
    assert only_stopped.episodes == 0 and only_stopped.overall is None and not only_stopped.tasks
