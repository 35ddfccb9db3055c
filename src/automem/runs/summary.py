"""Run summaries: episodes, then means per task, per game and over games, with standard errors."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from automem.traces.io import Trace
from automem.traces.schema import EpisodeOutcome
from automem.traces.stats import EpisodeStats, episode_stats, mean_rates


class EpisodeSummary(EpisodeOutcome):
    """One episode of a run: where it came from and how it ended.

    Only a ``finished`` episode is a result; a stopped or failed one is kept as data.
    """

    episode_id: str
    env_id: str
    game: str
    seed: int
    progression: float = Field(ge=0.0, le=1.0)
    behaviour: EpisodeStats | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @classmethod
    def from_trace(cls, trace: Trace, *, game: str) -> EpisodeSummary:
        """The summary of a finished episode's trace, its behavioural statistics included."""
        end = trace.end
        if end is None:
            raise ValueError(f"episode {trace.header.episode_id} has no end record")
        outcome = end.model_dump(include=set(EpisodeOutcome.model_fields))
        return cls(
            episode_id=trace.header.episode_id,
            env_id=trace.header.env_id,
            game=game,
            seed=trace.header.seed,
            behaviour=episode_stats(trace),
            **outcome,
        )


class Stat(BaseModel):
    """A mean with its standard error."""

    mean: float
    se: float

    def percent(self) -> str:
        return f"{100 * self.mean:.2f} ± {100 * self.se:.2f}"


class GroupSummary(BaseModel):
    episodes: int
    progression: Stat
    episode_return: Stat
    steps: Stat
    prompt_tokens: int
    completion_tokens: int
    tokens_per_step: float
    cost_usd: float
    model_calls: int
    fallbacks: int
    invalid_actions: int
    refused_commands: int
    model_errors: int
    behaviour: dict[str, float] = Field(
        default_factory=dict, description="Memory behaviour, pooled over the group's episodes."
    )


class UnfinishedEpisode(BaseModel):
    """An episode that is not a result (stopped, or failed): why, and how far it got."""

    episode_id: str
    seed: int
    status: Literal["stopped", "error"]
    reason: str
    steps: int


class RunSummary(BaseModel):
    """Finished episodes aggregated; the episodes that did not finish listed apart, by task."""

    episodes: int = Field(description="Finished episodes: the only ones counted.")
    overall: GroupSummary | None
    games: dict[str, GroupSummary]
    tasks: dict[str, GroupSummary]
    per_episode: list[EpisodeSummary]
    not_finished: dict[str, list[UnfinishedEpisode]] = Field(
        default_factory=dict,
        description="By task: episodes stopped (model error, budget) or failed; not counted.",
    )

    @property
    def unfinished(self) -> list[UnfinishedEpisode]:
        return [e for task in self.not_finished.values() for e in task]


def mean_se(values: Sequence[float]) -> Stat:
    """Mean and standard error of the mean (sample standard deviation, 0 for one value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean of no values")
    mean = sum(values) / n
    if n == 1:
        return Stat(mean=mean, se=0.0)
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Stat(mean=mean, se=math.sqrt(variance / n))


def mean_of_means(stats: Sequence[Stat]) -> Stat:
    """Mean of group means; its standard error treating the groups as independent."""
    k = len(stats)
    return Stat(mean=sum(s.mean for s in stats) / k, se=math.sqrt(sum(s.se**2 for s in stats)) / k)


def _group(episodes: Sequence[EpisodeSummary], progression: Stat | None = None) -> GroupSummary:
    steps = sum(e.steps for e in episodes)
    prompt = sum(e.totals.prompt_tokens for e in episodes)
    completion = sum(e.totals.completion_tokens for e in episodes)
    return GroupSummary(
        episodes=len(episodes),
        progression=progression or mean_se([e.progression for e in episodes]),
        episode_return=mean_se([e.episode_return for e in episodes]),
        steps=mean_se([float(e.steps) for e in episodes]),
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens_per_step=(prompt + completion) / steps if steps else 0.0,
        cost_usd=sum(e.totals.cost_usd for e in episodes),
        model_calls=sum(e.totals.model_calls for e in episodes),
        fallbacks=sum(e.totals.fallbacks for e in episodes),
        invalid_actions=sum(e.totals.invalid_actions for e in episodes),
        refused_commands=sum(e.totals.refused_commands for e in episodes),
        model_errors=sum(e.totals.model_errors for e in episodes),
        behaviour=mean_rates([e.behaviour for e in episodes if e.behaviour is not None]),
    )


def summarise(episodes: Sequence[EpisodeSummary]) -> RunSummary:
    """Aggregate as the benchmark does: mean per task, mean per game, then mean over games.

    Only finished episodes count; the others are listed apart in ``not_finished``.
    """
    everything = sorted(episodes, key=lambda e: (e.env_id, e.seed))
    ordered = [e for e in everything if e.finished]
    not_finished: dict[str, list[UnfinishedEpisode]] = defaultdict(list)
    for e in everything:
        if not e.finished:
            not_finished[e.env_id].append(
                UnfinishedEpisode(
                    episode_id=e.episode_id,
                    seed=e.seed,
                    status=e.status,  # type: ignore[arg-type]  # not finished: stopped or error
                    reason=e.reason,
                    steps=e.steps,
                )
            )
    by_task: dict[str, list[EpisodeSummary]] = defaultdict(list)
    for e in ordered:
        by_task[e.env_id].append(e)
    tasks = {task: _group(eps) for task, eps in by_task.items()}
    by_game: dict[str, list[str]] = defaultdict(list)
    for task, eps in by_task.items():
        by_game[eps[0].game].append(task)
    games = {
        game: _group(
            [e for t in task_ids for e in by_task[t]],
            mean_of_means([tasks[t].progression for t in task_ids]),
        )
        for game, task_ids in by_game.items()
    }
    overall = (
        _group(ordered, mean_of_means([g.progression for g in games.values()])) if ordered else None
    )
    return RunSummary(
        episodes=len(ordered),
        overall=overall,
        games=games,
        tasks=tasks,
        per_episode=ordered,
        not_finished=dict(not_finished),
    )
