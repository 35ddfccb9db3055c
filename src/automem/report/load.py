"""Reading run directories for a report: run metadata, finished episodes, traces, statistics.

Only finished episodes are reported (:class:`automem.runs.reader.RunReader` knows the
layout); a stopped one, or one in progress, is not. Each trace is read once and handed to a callback
(the trajectory encoder) before it is dropped, so a report over many long episodes never
holds more than one trace in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automem.runs.directory import RunDirError
from automem.runs.reader import RunReader
from automem.runs.summary import EpisodeSummary, RunSummary, summarise
from automem.traces.io import Trace, TraceError
from automem.traces.schema import StepRecord
from automem.traces.stats import EpisodeStats, episode_stats, mean_rates


class ReportError(ValueError):
    """A run directory that cannot be reported on; the message names the path."""


@dataclass
class EpisodeData:
    summary: EpisodeSummary
    trace_path: Path
    stats: EpisodeStats | None = None
    # (step, progression after it) at every step where progression changed, plus the last.
    curve: list[tuple[int, float]] = field(default_factory=list)
    trace_error: str | None = None
    scaffold: str | None = None  # from the trace's header

    @property
    def id(self) -> str:
        return self.summary.episode_id


@dataclass
class RunData:
    root: Path
    label: str
    meta: dict[str, Any]
    episodes: list[EpisodeData]
    summary: RunSummary
    version: int | None = None  # from run.json's lineage, when it has one
    parent: str | None = None
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> str:
        model = self.meta.get("model")
        if isinstance(model, dict):
            return str(model.get("spec") or model.get("name") or "")
        config = self.meta.get("config") or {}
        return str(config.get("model", "")) if isinstance(config, dict) else ""

    @property
    def scaffold(self) -> str:
        """The scaffold name(s): run.json's ``scaffolds`` or ``scaffold``, else the traces'."""
        names: list[str] = []
        scaffolds = self.meta.get("scaffolds")
        scaffold = self.meta.get("scaffold")
        if isinstance(scaffolds, dict):
            names = [str(k) for k in scaffolds]
        elif isinstance(scaffold, dict) and scaffold.get("name"):
            names = [str(scaffold["name"])]
        if not names:
            names = sorted({e.scaffold for e in self.episodes if e.scaffold})
        return ", ".join(names)

    @property
    def created(self) -> str:
        return str(self.meta.get("created_at", ""))


def read_run_meta(root: Path) -> dict[str, Any]:
    try:
        return RunReader(root).meta()
    except RunDirError as exc:
        raise ReportError(str(exc)) from None


def lineage_of(meta: dict[str, Any]) -> tuple[int | None, str | None]:
    """(version, parent) from run.json's optional ``lineage`` field."""
    lineage = meta.get("lineage")
    if not isinstance(lineage, dict):
        return None, None
    version = lineage.get("version")
    parent = lineage.get("parent")
    return (
        version if isinstance(version, int) and not isinstance(version, bool) else None,
        str(parent) if parent is not None else None,
    )


def finished_episodes(root: Path) -> list[tuple[EpisodeSummary, Path]]:
    """(summary, trace path) of each finished episode; a stopped one is not a result."""
    try:
        return RunReader(root).finished()
    except RunDirError as exc:
        raise ReportError(str(exc)) from None


def progression_curve(steps: Sequence[StepRecord]) -> list[tuple[int, float]]:
    curve: list[tuple[int, float]] = []
    last = 0.0
    for s in steps:
        if s.progression != last:
            curve.append((s.step, s.progression))
            last = s.progression
    if steps and (not curve or curve[-1][0] != steps[-1].step):
        curve.append((steps[-1].step, steps[-1].progression))
    return curve


TraceHook = Callable[[int, EpisodeData, Trace], None]


def run_labels(roots: Sequence[Path]) -> list[str]:
    """Short unique names: the directory name, with its parent's when two names clash."""
    names = [r.name or str(r) for r in roots]
    labels = []
    for root, name in zip(roots, names, strict=True):
        labels.append(f"{root.parent.name}/{name}" if names.count(name) > 1 else name)
    # Still clashing (same path given twice): number them.
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def load_runs(run_dirs: Sequence[Path], on_trace: TraceHook | None = None) -> list[RunData]:
    """Every run, in lineage order when every run has a lineage version, else as given.

    ``on_trace(run_index, episode, trace)`` is called once per readable trace, in the
    returned order of runs and episodes.
    """
    if not run_dirs:
        raise ReportError("no run directories given")
    roots = [Path(r) for r in run_dirs]
    for root in roots:
        if not root.is_dir():
            raise ReportError(f"{root} is not a directory")
    metas = [read_run_meta(root) for root in roots]
    order = list(range(len(roots)))
    lineages = [lineage_of(m) for m in metas]
    if len(roots) > 1 and all(v is not None for v, _ in lineages):
        order.sort(key=lambda i: lineages[i][0] or 0)
    labels = run_labels(roots)
    runs: list[RunData] = []
    for i in order:
        root, meta = roots[i], metas[i]
        episodes = [EpisodeData(summary=s, trace_path=p) for s, p in finished_episodes(root)]
        summary = summarise([e.summary for e in episodes])
        episodes.sort(key=lambda e: (e.summary.env_id, e.summary.seed))
        version, parent = lineages[i]
        runs.append(
            RunData(
                root=root,
                label=labels[i],
                meta=meta,
                episodes=episodes,
                summary=summary,
                version=version,
                parent=parent,
            )
        )
    for index, run in enumerate(runs):
        for episode in run.episodes:
            try:
                trace = Trace.read(episode.trace_path)
            except TraceError as exc:
                episode.trace_error = str(exc)
                continue
            episode.stats = episode_stats(trace)
            episode.scaffold = trace.header.scaffold
            episode.curve = progression_curve(trace.steps)
            if on_trace is not None:
                on_trace(index, episode, trace)
        stats = [e.stats for e in run.episodes if e.stats is not None]
        run.rates = mean_rates(stats) if stats else {}
    return runs
