"""Runs: episodes in parallel workers, resumable run directories, summaries."""

from automem.runs.budget import Budget, BudgetMeter
from automem.runs.config import RunConfig, TaskConfig, parse_seeds
from automem.runs.directory import EpisodeScan, RunDir, RunDirError, episode_id, read_result
from automem.runs.runner import EpisodeTask, RunResult, WorkerError, run, run_episode
from automem.runs.summary import (
    EpisodeSummary,
    RunSummary,
    UnfinishedEpisode,
    mean_se,
    summarise,
)

__all__ = [
    "Budget",
    "BudgetMeter",
    "EpisodeScan",
    "EpisodeSummary",
    "EpisodeTask",
    "RunConfig",
    "RunDir",
    "RunDirError",
    "RunResult",
    "RunSummary",
    "TaskConfig",
    "UnfinishedEpisode",
    "WorkerError",
    "episode_id",
    "mean_se",
    "parse_seeds",
    "read_result",
    "run",
    "run_episode",
    "summarise",
]
