"""Paired comparison of two runs: progression differences with bootstrap confidence intervals.

Episodes are paired by (task, seed), so each difference compares the two agents on the same
world. The overall difference is aggregated as the benchmark aggregates progression (mean
per task, mean per game, mean over games), and its interval comes from resampling episode
pairs within each task (a stratified paired bootstrap). Loop 1's gate uses this function.

Two runs are compared only as a controlled experiment: paired episodes must have run with
the same step cap (a 10-step episode says nothing about a 2,000-step one), and the runs may
differ in their scaffold or their model, not both; ``allow_mismatch`` overrides this and
the differences are reported with the result.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from automem.runs.directory import RunDir, RunDirError
from automem.runs.summary import EpisodeSummary
from automem.traces.io import TraceError, iter_records
from automem.traces.schema import Header


class ComparisonError(ValueError):
    """Two runs that cannot be compared as asked; the message says why and what to do."""


class Mismatch(BaseModel):
    """A setting under which the paired episodes of a task (or the whole runs) differ."""

    model_config = ConfigDict(frozen=True)

    setting: Literal["max steps", "scaffold", "model"]
    task: str = Field(description="The task, or '' for a run-wide setting (the model).")
    a: str
    b: str

    def describe(self) -> str:
        where = f" of {self.task}" if self.task else ""
        return f"{self.setting}{where}: {self.a} (A) vs {self.b} (B)"


# The step cap changes what progression can reach, so it must match for any comparison. The
# scaffold and the model are what comparisons are for, but only one of them at a time.
CONFOUNDS = ("max steps",)
SUBJECTS = ("scaffold", "model")


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True)

    mean: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def percent(self) -> str:
        return f"{100 * self.mean:+.2f} [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"


class TaskComparison(BaseModel):
    task: str
    pairs: int
    a_mean: float
    b_mean: float
    difference: Interval


class Comparison(BaseModel):
    """B minus A. ``overall`` is None when the runs share no episode."""

    a: str
    b: str
    confidence: float
    resamples: int
    tasks: list[TaskComparison]
    overall: Interval | None
    only_in_a: list[str]
    only_in_b: list[str]
    behaviour: dict[str, tuple[float, float]] = {}  # statistic -> (A, B), pooled rates
    differences: list[Mismatch] = []  # settings that differ between the runs (compare_runs)


def pair_episodes(
    a: list[EpisodeSummary], b: list[EpisodeSummary]
) -> tuple[dict[str, list[tuple[EpisodeSummary, EpisodeSummary]]], list[str], list[str]]:
    """Pairs by task (in order of seed), and the episode ids found in one run only."""
    index_a = {(e.env_id, e.seed): e for e in a}
    index_b = {(e.env_id, e.seed): e for e in b}
    pairs: dict[str, list[tuple[EpisodeSummary, EpisodeSummary]]] = defaultdict(list)
    for key in sorted(index_a.keys() & index_b.keys()):
        pairs[key[0]].append((index_a[key], index_b[key]))
    only_a = sorted(index_a[k].episode_id for k in index_a.keys() - index_b.keys())
    only_b = sorted(index_b[k].episode_id for k in index_b.keys() - index_a.keys())
    return dict(pairs), only_a, only_b


def compare_episodes(
    a: list[EpisodeSummary],
    b: list[EpisodeSummary],
    *,
    names: tuple[str, str] = ("a", "b"),
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if resamples < 100:
        raise ValueError("use at least 100 bootstrap resamples")
    pairs, only_a, only_b = pair_episodes(a, b)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    tasks: list[TaskComparison] = []
    boots: dict[str, np.ndarray] = {}
    games: dict[str, list[str]] = defaultdict(list)
    for task, items in pairs.items():
        diffs = np.array([pb.progression - pa.progression for pa, pb in items])
        picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
        boots[task] = diffs[picks].mean(axis=1)
        games[items[0][0].game].append(task)
        tasks.append(
            TaskComparison(
                task=task,
                pairs=len(items),
                a_mean=float(np.mean([pa.progression for pa, _ in items])),
                b_mean=float(np.mean([pb.progression for _, pb in items])),
                difference=_interval(float(diffs.mean()), boots[task], alpha),
            )
        )
    overall = None
    if tasks:
        # Mean over games of the mean over each game's tasks, for the point and every resample.
        point = np.mean(
            [np.mean([_mean(pairs[t]) for t in game_tasks]) for game_tasks in games.values()]
        )
        resampled = np.mean(
            [np.mean([boots[t] for t in game_tasks], axis=0) for game_tasks in games.values()],
            axis=0,
        )
        overall = _interval(float(point), resampled, alpha)
    return Comparison(
        a=names[0],
        b=names[1],
        confidence=confidence,
        resamples=resamples,
        tasks=tasks,
        overall=overall,
        only_in_a=only_a,
        only_in_b=only_b,
    )


def compare_runs(
    a: Path,
    b: Path,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    allow_mismatch: bool = False,
) -> Comparison:
    """Compare the finished episodes of two run directories (B minus A), with behaviour.

    Raises :class:`ComparisonError` before computing anything if the runs share no episode,
    or (unless ``allow_mismatch``) if paired episodes ran with different step caps or the
    runs differ in both scaffold and model; ``differences`` lists what differs either way.
    """
    episodes_a, episodes_b = (
        list(RunDir(a).finished().values()),
        list(RunDir(b).finished().values()),
    )
    pairs, _, _ = pair_episodes(episodes_a, episodes_b)
    if not pairs:
        raise ComparisonError(
            f"{a} and {b} share no finished episode (same task and seed) to compare"
        )
    differences = settings_differences(a, b, pairs)
    if not allow_mismatch:
        _refuse_confounded(a, b, differences)
    result = compare_episodes(
        episodes_a,
        episodes_b,
        names=(str(a), str(b)),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    rates_a, rates_b = _behaviour(a), _behaviour(b)
    behaviour = {name: (rates_a[name], rates_b[name]) for name in rates_a}
    return result.model_copy(update={"behaviour": behaviour, "differences": differences})


def confounded(differences: list[Mismatch]) -> bool:
    """Whether B - A mixes effects: different step caps, or both scaffold and model differ."""
    subjects = {d.setting for d in differences if d.setting in SUBJECTS}
    return any(d.setting in CONFOUNDS for d in differences) or len(subjects) > 1


def _refuse_confounded(a: Path, b: Path, differences: list[Mismatch]) -> None:
    if not confounded(differences):
        return
    why = (
        "paired episodes ran under different settings"
        if any(d.setting in CONFOUNDS for d in differences)
        else "they differ in both scaffold and model, so B - A cannot be put down to either"
    )
    raise ComparisonError(
        f"cannot compare {a} with {b}: {why} ({'; '.join(d.describe() for d in differences)}). "
        "Rerun one with the other's settings, or add --allow-mismatch to compare anyway."
    )


def settings_differences(
    a: Path, b: Path, pairs: dict[str, list[tuple[EpisodeSummary, EpisodeSummary]]]
) -> list[Mismatch]:
    """What differs between the runs' paired episodes: each task's step cap and scaffold (from
    the episodes' trace headers, which record them as run) and the model (from run.json)."""
    found: list[Mismatch] = []
    model_a, model_b = _model_label(a), _model_label(b)
    if model_a != model_b:
        found.append(Mismatch(setting="model", task="", a=model_a, b=model_b))
    for task, items in pairs.items():
        headers = [(_header(a, ea), _header(b, eb)) for ea, eb in items]
        for setting, of in (
            ("max steps", lambda h: str(h.max_steps)),
            ("scaffold", lambda h: f"{h.scaffold} (digest {h.scaffold_digest[:12]})"),
        ):
            differing = [(of(ha), of(hb)) for ha, hb in headers if of(ha) != of(hb)]
            if differing:
                values_a, values_b = (sorted(set(side)) for side in zip(*differing, strict=True))
                found.append(
                    Mismatch(
                        setting=setting, task=task, a=", ".join(values_a), b=", ".join(values_b)
                    )
                )
    return found


def _header(run_dir: Path, episode: EpisodeSummary) -> Header:
    """The first record of an episode's trace: the settings it ran under."""
    path = RunDir(run_dir).episode_dir(episode.episode_id) / "trace.jsonl"
    records = iter_records(path)
    try:
        header = next(records, None)
    finally:
        records.close()  # closes the file now, not when the generator is collected
    if not isinstance(header, Header):
        raise TraceError(f"{path} is empty: a trace starts with a header record")
    return header


def _model_label(run_dir: Path) -> str:
    """The run's model identity as one comparable string: its spec and settings."""
    model = RunDir(run_dir).read_json("run.json").get("model")
    if not isinstance(model, dict):
        raise RunDirError(f"{run_dir / 'run.json'} records no model identity")
    details = model.get("details") or {}
    settings = ", ".join(f"{k}={v}" for k, v in sorted(details.items()) if v is not None)
    return f"{model.get('spec')}" + (f" [{settings}]" if settings else "")


def _behaviour(run_dir: Path) -> dict[str, float]:
    from automem.runs.replay import episode_traces
    from automem.traces import Trace
    from automem.traces.stats import episode_stats, mean_rates

    return mean_rates([episode_stats(Trace.read(p)) for p in episode_traces(run_dir)])


def _mean(items: list[tuple[EpisodeSummary, EpisodeSummary]]) -> float:
    return float(np.mean([pb.progression - pa.progression for pa, pb in items]))


def _interval(mean: float, samples: np.ndarray, alpha: float) -> Interval:
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return Interval(mean=mean, low=float(low), high=float(high))
