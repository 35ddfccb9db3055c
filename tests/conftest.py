"""Shared test fixtures: a tiny deterministic text env and a model that replays given replies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from automem.agent import Episode
from automem.core import (
    ActionSpec,
    ChatModel,
    Completion,
    CompletionRequest,
    ModelError,
    ModelIdentity,
    Observation,
    StepResult,
    TextEnv,
    Usage,
)
from automem.runs import EpisodeSummary
from automem.scaffold import Scaffold, load
from automem.traces import EpisodeTotals, Trace, TraceWriter

DATA = Path(__file__).resolve().parent / "data"  # public benchmark data the tests read


class LineEnv(TextEnv):
    """A corridor of ``length`` cells: walk right to the end. Progression is position/length."""

    env_id = "line"
    game = "line"
    default_action = "wait"

    def __init__(self, length: int = 5, max_steps: int = 50) -> None:
        self.length = length
        self.max_steps = max_steps
        self.actions = (
            ActionSpec(name="left", description="move one cell left"),
            ActionSpec(name="right", description="move one cell right"),
            ActionSpec(name="wait", description="do nothing"),
        )
        self.pos = 0
        self.t = 0
        self.best = 0

    def reset(self, seed: int) -> Observation:
        self.pos, self.t, self.best = seed % 2, 0, 0
        return self._obs()

    def _obs(self) -> Observation:
        return Observation(text=f"You are at cell {self.pos} of {self.length}.")

    @property
    def progression(self) -> float:
        return self.best / self.length

    def step(self, action: str) -> StepResult:
        name = self.parse_action(action)
        valid = name is not None
        name = name or self.default_action
        self.t += 1
        old = self.pos
        if name == "right":
            self.pos = min(self.length, self.pos + 1)
        elif name == "left":
            self.pos = max(0, self.pos - 1)
        self.best = max(self.best, self.pos)
        return StepResult(
            observation=self._obs(),
            reward=float(self.pos > old),
            terminated=self.pos == self.length,
            truncated=self.t >= self.max_steps,
            progression=self.progression,
            action=name,
            valid=valid,
        )


class ListModel(ChatModel):
    """Replies with the given texts in order (an Exception item is raised instead)."""

    def __init__(self, replies: Sequence[str | Exception]) -> None:
        self.replies = list(replies)
        self.requests: list[CompletionRequest] = []
        self.identity = ModelIdentity(spec="list", backend="test", name="list")

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError("ListModel ran out of replies")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(text=reply, usage=Usage(prompt_tokens=10, completion_tokens=5))


def play(
    folder: Path,
    replies: Sequence[str | Exception],
    *,
    max_steps: int = 1,
    scaffold: Scaffold | None = None,
    env: TextEnv | None = None,
) -> tuple[Trace, ListModel]:
    """Play one episode with replayed replies into folder/trace.jsonl and folder/memory.

    Fails if the episode did not use every reply: a test's script and the loop must agree.
    """
    model = ListModel(replies)
    folder.mkdir(parents=True, exist_ok=True)
    with TraceWriter(folder / "trace.jsonl") as trace:
        Episode(
            env=env or LineEnv(),
            model=model,
            scaffold=scaffold or load("crafter-v0"),
            seed=0,
            episode_id="e",
            memory_dir=folder / "memory",
            trace=trace,
            max_steps=max_steps,
        ).run()
    assert not model.replies, f"model replies left unused: {model.replies}"
    return Trace.read(folder / "trace.jsonl"), model


def finished_episode(
    env: str, game: str, seed: int, progression: float, steps: int = 10
) -> EpisodeSummary:
    """A finished episode's summary, built by hand: return 10x progression, 110 tokens."""
    return EpisodeSummary(
        episode_id=f"{env}-{seed}",
        env_id=env,
        game=game,
        seed=seed,
        status="finished",
        reason="max_steps",
        steps=steps,
        episode_return=progression * 10,
        progression=progression,
        totals=EpisodeTotals(prompt_tokens=100, completion_tokens=10),
        duration_s=1.0,
    )


__all__ = ["DATA", "LineEnv", "ListModel", "ModelError", "finished_episode", "play"]
