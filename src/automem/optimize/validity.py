"""Whether a candidate's episodes can be scored at all.

An episode that stopped (model error, budget) or failed, or a finished one that hit model
errors, makes the whole candidate invalid with that reason: it is never a score of zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from automem.runs import EpisodeSummary, RunDir, RunSummary

Key = tuple[str, int]  # (task, seed): one instance of the gate


@dataclass(frozen=True)
class Validity:
    reasons: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.reasons


def check_valid(
    episodes: Sequence[EpisodeSummary] | RunSummary,
    *,
    expected: Iterable[Key] | None = None,
    allow_model_errors: bool = False,
) -> Validity:
    """The reasons (one line each) that ``episodes`` cannot score a candidate; none = valid.

    ``expected`` lists the (task, seed) instances that must all have finished.
    """
    reasons: list[str] = []
    if isinstance(episodes, RunSummary):
        finished = list(episodes.per_episode)
        reasons += [
            f"episode {e.episode_id} (seed {e.seed}) {e.status}: {e.reason}"
            for e in episodes.unfinished
        ]
    else:
        finished = [e for e in episodes if e.finished]
        reasons += [
            f"episode {e.episode_id} (seed {e.seed}) {e.status}: {e.reason}"
            for e in episodes
            if not e.finished
        ]
    if not allow_model_errors:
        reasons += [
            f"episode {e.episode_id} (seed {e.seed}) hit {e.totals.model_errors} model error(s)"
            for e in finished
            if e.totals.model_errors
        ]
    if expected is not None:
        reasons += [
            f"episode of {task} seed {seed} was not run"
            for task, seed in sorted(set(expected) - _seen(episodes))
        ]
    return Validity(tuple(reasons))


def _seen(episodes: Sequence[EpisodeSummary] | RunSummary) -> set[Key]:
    """Every (task, seed) with an episode, finished or not."""
    if isinstance(episodes, RunSummary):
        unfinished = {(t, e.seed) for t, eps in episodes.not_finished.items() for e in eps}
        return {(e.env_id, e.seed) for e in episodes.per_episode} | unfinished
    return {(e.env_id, e.seed) for e in episodes}


def run_episodes(run_dir: Path) -> list[EpisodeSummary]:
    """Every episode of a run directory's latest attempts, finished or not (read-only)."""
    directory = RunDir(run_dir)
    return directory.scan(directory.config()).episodes()


def by_instance(episodes: Sequence[EpisodeSummary]) -> dict[Key, float]:
    """Progression of each finished episode keyed by (task, seed)."""
    scores: dict[Key, float] = {}
    for e in episodes:
        if e.finished:
            if (e.env_id, e.seed) in scores:
                raise ValueError(f"two episodes of {e.env_id} seed {e.seed}")
            scores[(e.env_id, e.seed)] = e.progression
    return scores
