"""Building the report: load the runs, encode the trajectories, write one HTML file."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from automem import __version__
from automem.optimize.layout import is_optimization
from automem.report import html
from automem.report.load import EpisodeData, ReportError, RunData, load_runs
from automem.report.trajectory import LineTable, encode_episode
from automem.traces.io import Trace


@dataclass(frozen=True)
class ReportInfo:
    """What :func:`build_report` wrote."""

    path: Path | None
    title: str
    runs: int
    episodes: int
    steps: int  # steps in the trajectory viewer, over all episodes
    bytes: int  # size of the HTML file
    data_bytes: int  # of which the embedded viewer data (JSON)
    seconds: float  # build time
    warnings: tuple[str, ...] = field(default=())


def default_title(runs: Sequence[RunData]) -> str:
    if len(runs) == 1:
        return f"AutoMem report · {runs[0].label}"
    return f"AutoMem report · {len(runs)} runs"


DEFAULT_CHECKPOINT = 64


def render_report(
    run_dirs: Sequence[Path],
    *,
    title: str | None = None,
    trajectories: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT,
) -> tuple[str, ReportInfo]:
    """The report's HTML and what it holds (``path`` is None: nothing is written)."""
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be at least 1")
    start = time.perf_counter()
    if any(is_optimization(Path(d)) for d in run_dirs):
        if len(run_dirs) > 1:
            raise ReportError(
                "an optimisation directory gets a report of its own: give it alone (its runs "
                "are under attempts/*/runs and baseline/runs)"
            )
        return _optimization(Path(run_dirs[0]), title, start)
    table = LineTable()
    table.line("")  # index 0: the empty line, also a missing file's single line
    episodes: list[dict[str, Any]] = []

    def on_trace(run: int, episode: EpisodeData, trace: Trace) -> None:
        if trajectories:
            episodes.append(encode_episode(trace, table, run=run))

    runs = load_runs(run_dirs, on_trace)
    warnings = tuple(
        f"{e.trace_path}: {e.trace_error}" for r in runs for e in r.episodes if e.trace_error
    )
    title = title or default_title(runs)
    data = {
        "v": 1,
        "checkpoint": checkpoint_every,
        "L": table.lines,
        "runs": [{"label": r.label, "version": r.version} for r in runs],
        "episodes": episodes,
    }
    data_json = html.json_for_script(data)
    n_episodes = sum(len(r.episodes) for r in runs)
    total_steps = sum(e["n"] for e in episodes)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = " · ".join(
        [
            f"{len(runs)} run{'s' * (len(runs) != 1)}",
            f"{n_episodes} episode{'s' * (n_episodes != 1)}",
            f"{sum(e.summary.steps for r in runs for e in r.episodes):,} steps",
            f"generated {generated}",
        ]
    )
    sections = [
        html.runs_section(runs),
        html.summary_section(runs),
        html.progression_section(runs, viewer=trajectories),
        html.behaviour_section(runs),
        html.cost_section(runs),
    ]
    nav = [
        ("summary", "Summary"),
        ("progression", "Progression"),
        ("behaviour", "Behaviour"),
        ("cost", "Tokens & cost"),
    ]
    lineage = html.lineage_section(runs)
    if lineage:
        sections.append(lineage)
        nav.append(("lineage", "By version"))
    if trajectories:
        sections.append(html.VIEWER)
        nav.append(("viewer", "Trajectories"))
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        sections.insert(
            0, f'<div class="warn card"><strong>Warnings</strong><ul>{items}</ul></div>'
        )
    text = html.page(
        title=title,
        subtitle=escape(subtitle),
        sections=sections,
        data_json=data_json,
        generator=f"automem {__version__}",
        nav=nav,
        viewer=trajectories,
    )
    info = ReportInfo(
        path=None,
        title=title,
        runs=len(runs),
        episodes=n_episodes,
        steps=total_steps,
        bytes=len(text.encode()),
        data_bytes=len(data_json.encode()),
        seconds=time.perf_counter() - start,
        warnings=warnings,
    )
    return text, info


def _optimization(root: Path, title: str | None, start: float) -> tuple[str, ReportInfo]:
    """An optimisation directory's own page (automem.report.optimization)."""
    from automem.report.optimization import render_optimization

    text, shown = render_optimization(root, title=title)
    info = ReportInfo(
        path=None,
        title=shown.title,
        runs=shown.runs,
        episodes=shown.episodes,
        steps=0,
        bytes=len(text.encode()),
        data_bytes=0,
        seconds=time.perf_counter() - start,
    )
    return text, info


def build_report(
    run_dirs: Sequence[Path],
    out: Path,
    *,
    title: str | None = None,
    trajectories: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT,
) -> ReportInfo:
    """Write one self-contained HTML report on ``run_dirs`` to ``out``.

    Several runs get one column group each; runs whose run.json carries a
    ``lineage: {"version": int, "parent": str}`` are ordered by version (else as given) and
    get a progression-by-version chart. ``trajectories=False`` leaves out the trajectory
    viewer and its data (a much smaller file for many long episodes). The viewer keeps the
    memory files every ``checkpoint_every`` steps, so a seek replays fewer steps than that.
    """
    start = time.perf_counter()
    text, info = render_report(
        run_dirs, title=title, trajectories=trajectories, checkpoint_every=checkpoint_every
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return ReportInfo(**{**info.__dict__, "path": out, "seconds": time.perf_counter() - start})
