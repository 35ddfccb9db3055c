"""Replay: re-execute an episode's recorded actions and check the environment answers the same.

Exact replay is what makes fixed-seed comparisons and trace analysis trustworthy: the same
seed and the same action texts must give the same observations, rewards and progression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from automem import envs
from automem.core import Observation, StepResult
from automem.runs.reader import RunReader
from automem.traces.io import Trace
from automem.traces.schema import ObservationRecord, StepRecord


@dataclass(frozen=True)
class Difference:
    step: int
    field: str
    recorded: object
    replayed: object

    def describe(self) -> str:
        return (
            f"step {self.step}: {self.field} differs\n"
            f"  recorded: {_short(self.recorded)}\n  replayed: {_short(self.replayed)}"
        )


@dataclass(frozen=True)
class ReplayReport:
    episode_id: str
    steps: int
    difference: Difference | None

    @property
    def exact(self) -> bool:
        return self.difference is None


def replay_trace(path: Path) -> ReplayReport:
    """Re-execute the actions recorded in one trace; stop at the first difference."""
    trace = Trace.read(path)
    header = trace.header
    observations = {o.step: o for o in trace.of_type(ObservationRecord)}
    env = envs.make(header.env_id)
    try:
        first = env.reset(header.seed)
        diff = _compare_observation(0, observations.get(0), first)
        steps = 0
        for record in trace.of_type(StepRecord):
            if diff is not None:
                break
            sent = record.proposed if record.proposed is not None else record.action
            result = env.step(sent)
            steps += 1
            diff = _compare_step(record, result) or _compare_observation(
                record.step + 1, observations.get(record.step + 1), result.observation
            )
    finally:
        env.close()
    return ReplayReport(header.episode_id, steps, diff)


def episode_traces(run_dir: Path, episode: str | None = None) -> Iterator[Path]:
    """The trace files of a run's finished episodes (or of one episode by id)."""
    reader = RunReader(run_dir)
    if not reader.run.episodes_dir.is_dir():
        raise ValueError(f"{run_dir} has no episodes folder: is it a run directory?")
    finished = {summary.episode_id: path for summary, path in reader.finished()}
    if episode is not None:
        if episode not in finished:
            known = ", ".join(finished)
            raise ValueError(f"no finished episode {episode!r} in {run_dir}; episodes: {known}")
        finished = {episode: finished[episode]}
    yield from finished.values()


def _compare_step(record: StepRecord, result: StepResult) -> Difference | None:
    pairs = (
        ("action", record.action, result.action),
        ("valid", record.valid, result.valid),
        ("reward", record.reward, result.reward),
        ("progression", record.progression, result.progression),
        ("terminated", record.terminated, result.terminated),
        ("truncated", record.truncated, result.truncated),
    )
    for name, recorded, replayed in pairs:
        if recorded != replayed:
            return Difference(record.step, name, recorded, replayed)
    return None


def _compare_observation(
    step: int, record: ObservationRecord | None, observation: Observation
) -> Difference | None:
    if record is None:
        return Difference(step, "observation", "(not recorded)", observation.text)
    if record.text != observation.text:
        return Difference(step, "observation", record.text, observation.text)
    if record.short_term != observation.short_term:
        return Difference(step, "short-term observation", record.short_term, observation.short_term)
    return None


def _short(value: object, width: int = 400) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"
