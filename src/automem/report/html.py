"""The report page: sections of tables and charts, built as HTML strings from loaded runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from html import escape
from importlib import resources
from typing import Any

from automem.report.charts import (
    Bar,
    Point,
    bar_chart,
    colour,
    curves_chart,
    hbar_chart,
    line_chart,
)
from automem.report.load import RunData
from automem.runs.summary import GroupSummary, Stat

# The page may load nothing from anywhere: inline styles and scripts only, images as data: URLs.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def asset(name: str) -> str:
    return resources.files("automem.report").joinpath("assets", name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- formatting


def fmt_pct(stat: Stat) -> str:
    return f"{100 * stat.mean:.1f} ± {100 * stat.se:.1f}"


def fmt_stat(stat: Stat, digits: int = 2) -> str:
    if stat.se == 0:
        return f"{stat.mean:.{digits}f}"
    return f"{stat.mean:.{digits}f} ± {stat.se:.{digits}f}"


def fmt_count(n: float) -> str:
    """Token-style counts: 950, 12.3k, 4.56M."""
    n = float(n)
    if abs(n) >= 1e9:
        return f"{n / 1e9:.2f}G"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M"
    if abs(n) >= 1e4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,.0f}"


def fmt_cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def task_label(task: str) -> str:
    return task.rsplit("/", 1)[-1]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def json_for_script(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no "</", "<!--" or "<script"."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("</", "<\\/").replace("<!--", "\\u003c!--")
    return re.sub(r"<(script)", r"\\u003c\1", text, flags=re.IGNORECASE)


def run_heading(run: RunData) -> str:
    version = f'<span class="ver">v{run.version}</span> ' if run.version is not None else ""
    return f'<span class="runhead">{version}{escape(run.label)}</span>'


def swatch(i: int) -> str:
    return f'<span class="swatch" style="background:{colour(i)}"></span>'


# --------------------------------------------------------------------------- sections


def runs_section(runs: Sequence[RunData]) -> str:
    rows = []
    for i, run in enumerate(runs):
        steps = sum(e.summary.steps for e in run.episodes)
        parent = escape(run.parent) if run.parent else "—"
        rows.append(
            f'<tr data-run="{i}"><th scope="row">{swatch(i)}{run_heading(run)}</th>'
            f"<td>{escape(run.model) or '—'}</td><td>{escape(run.scaffold) or '—'}</td>"
            f'<td class="num">{len(run.episodes)}</td><td class="num">{fmt_int(steps)}</td>'
            f"<td>{parent}</td><td>{escape(run.created[:19].replace('T', ' ')) or '—'}</td>"
            f'<td class="path" title="{escape(str(run.root))}">{escape(str(run.root))}</td></tr>'
        )
    return (
        '<section id="runs"><h2>Runs</h2><div class="card table-wrap"><table class="data">'
        "<thead><tr><th>Run</th><th>Model</th><th>Scaffold</th><th class=num>Episodes</th>"
        "<th class=num>Steps</th><th>Parent</th><th>Created</th><th>Directory</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


SUMMARY_COLUMNS: tuple[tuple[str, str, Callable[[GroupSummary], str]], ...] = (
    ("n", "episodes", lambda g: str(g.episodes)),
    (
        "progression %",
        "progression: mean ± standard error, in percent",
        lambda g: fmt_pct(g.progression),
    ),
    ("return", "episode return: mean ± standard error", lambda g: fmt_stat(g.episode_return)),
    ("steps", "steps per episode (mean)", lambda g: f"{g.steps.mean:,.0f}"),
    (
        "tokens",
        "prompt + completion tokens (total)",
        lambda g: fmt_count(g.prompt_tokens + g.completion_tokens),
    ),
    ("cost", "model cost in USD (total)", lambda g: fmt_cost(g.cost_usd)),
    ("fallbacks", "steps where the fallback action was used", lambda g: fmt_int(g.fallbacks)),
    ("invalid", "invalid actions", lambda g: fmt_int(g.invalid_actions)),
)


def summary_rows(runs: Sequence[RunData]) -> list[tuple[str, str, str, list[GroupSummary | None]]]:
    """(kind, key, label, one group per run) rows: overall, each game, then its tasks."""
    games: dict[str, list[str]] = {}
    for run in runs:
        for e in run.summary.per_episode:
            tasks = games.setdefault(e.game, [])
            if e.env_id not in tasks:
                tasks.append(e.env_id)
    rows: list[tuple[str, str, str, list[GroupSummary | None]]] = []
    if len(games) > 1:
        rows.append(("overall", "overall", "All games", [r.summary.overall for r in runs]))
    for game in sorted(games):
        tasks = sorted(games[game])
        if len(tasks) > 1 or tasks[0] != game:
            rows.append(
                (
                    "game",
                    game,
                    f"{game} (mean of {len(tasks)} task{'s' * (len(tasks) > 1)})",
                    [r.summary.games.get(game) for r in runs],
                )
            )
        for task in tasks:
            kind = "task" if len(tasks) > 1 or task != game else "game"
            rows.append((kind, task, task, [r.summary.tasks.get(task) for r in runs]))
    return rows


def summary_section(runs: Sequence[RunData]) -> str:
    """One row per task (game, overall); with several runs, one row per run under each, so
    the table keeps its width whatever the number of runs."""
    multi = len(runs) > 1
    head = (
        "<tr><th>Task</th>"
        + ("<th>Run</th>" if multi else "")
        + "".join(
            f'<th class="num" title="{escape(tip)}">{escape(name)}</th>'
            for name, tip, _f in SUMMARY_COLUMNS
        )
        + "</tr>"
    )
    body = []
    for kind, key, label, groups in summary_rows(runs):
        for i, group in enumerate(groups):
            cells = "".join(
                f'<td class="num" data-col="{escape(name)}">'
                f"{f(group) if group is not None else '—'}</td>"
                for name, _tip, f in SUMMARY_COLUMNS
            )
            task = (
                f'<th scope="row" rowspan="{len(groups)}" title="{escape(key)}">'
                f"{escape(label)}</th>"
                if i == 0
                else ""
            )
            run = f'<td class="run wrap">{swatch(i)}{run_heading(runs[i])}</td>' if multi else ""
            first = " group-start" if multi and i == 0 else ""
            attrs = f' data-run="{i}"' if multi else ""
            body.append(
                f'<tr class="row-{kind}{first}" data-key="{escape(key)}"{attrs}>'
                f"{task}{run}{cells}</tr>"
            )
    note = (
        '<p class="note">Progression is the benchmark\'s progress measure in percent: mean ± '
        "standard error over episodes per task; a game averages its tasks and “All games” "
        "averages the games, as the benchmark reports them.</p>"
    )
    return (
        '<section id="summary"><h2>Summary</h2><div class="card table-wrap">'
        f'<table class="data summary{" multi" if multi else ""}" id="summary-table">'
        f"<thead>{head}</thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>{note}</section>"
    )


def progression_section(runs: Sequence[RunData], *, viewer: bool = True) -> str:
    series = [r.label for r in runs]
    tasks = sorted({e.summary.env_id for r in runs for e in r.episodes})
    bars: list[list[Bar | None]] = []
    for task in tasks:
        row: list[Bar | None] = []
        for run in runs:
            group = run.summary.tasks.get(task)
            if group is None:
                row.append(None)
                continue
            dots = [
                (f"{e.summary.episode_id} (seed {e.summary.seed})", e.summary.progression)
                for e in run.episodes
                if e.summary.env_id == task
            ]
            row.append(Bar(group.progression.mean, group.progression.se, dots, run.label))
        bars.append(row)
    chart = bar_chart(
        [task_label(t) for t in tasks],
        series,
        bars,
        title="Progression per task and run",
        y_title="progression",
    )
    curves = [
        (i, f"{e.summary.episode_id}", e.curve)
        for i, run in enumerate(runs)
        for e in run.episodes
        if e.curve
    ]
    max_step = max([e.summary.steps for r in runs for e in r.episodes] or [1])
    curve_chart = (
        curves_chart(curves, series, title="Progression over each episode", max_step=max_step)
        if curves
        else ""
    )
    return (
        '<section id="progression"><h2>Progression</h2><div class="grid2">'
        '<figure class="card chart-card" id="progression-chart">'
        "<figcaption>Per task: mean ± standard error (bars), each episode (dots)</figcaption>"
        f"{chart}</figure>"
        '<figure class="card chart-card" id="curves-chart">'
        "<figcaption>Over each episode's steps</figcaption>"
        f"{curve_chart or '<p class=no-data>No traces.</p>'}</figure></div>"
        f"{episodes_table(runs, viewer=viewer)}</section>"
    )


def episodes_table(runs: Sequence[RunData], *, viewer: bool = True) -> str:
    rows = []
    for i, run in enumerate(runs):
        for e in run.episodes:
            s = e.summary
            key = f"{i}/{s.episode_id}"
            status = escape(s.status) + (f" · {escape(s.reason)}" if s.reason else "")
            view = (
                f'<button class="link view-ep" data-view="{escape(key)}">View</button>'
                if e.stats is not None
                else f'<span class="muted" title="{escape(e.trace_error or "")}">no trace</span>'
            )
            if not viewer and e.stats is not None:
                view = ""
            rows.append(
                f'<tr data-episode="{escape(key)}"><td class="wrap">{swatch(i)}'
                f'{escape(run.label)}</td><td class="wrap id">{escape(s.episode_id)}</td>'
                f"<td class=num>{s.seed}</td>"
                f"<td class=status-{escape(s.status)}>{status}</td>"
                f"<td class=num>{fmt_int(s.steps)}</td>"
                f"<td class=num>{100 * s.progression:.1f}</td>"
                f"<td class=num>{s.episode_return:.2f}</td>"
                f"<td class=num>{fmt_count(s.totals.prompt_tokens + s.totals.completion_tokens)}"
                f"</td><td class=num>{fmt_cost(s.totals.cost_usd)}</td>"
                f"<td class=num>{s.totals.invalid_actions}</td>"
                f"<td class=num>{s.totals.fallbacks}</td><td>{view}</td></tr>"
            )
    return (
        '<details class="card episodes" id="episodes" open><summary>Episodes '
        f'<span class="muted">({len(rows)})</span></summary><div class="table-wrap">'
        '<table class="data" id="episodes-table"><thead><tr><th>Run</th><th>Episode</th>'
        "<th class=num>Seed</th><th>Status</th><th class=num>Steps</th>"
        "<th class=num>Progression %</th><th class=num>Return</th><th class=num>Tokens</th>"
        "<th class=num>Cost</th><th class=num>Invalid</th><th class=num>Fallbacks</th><th></th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


BEHAVIOUR: tuple[tuple[str, str, str, bool], ...] = (
    # (key in mean_rates, label, description, is a rate in [0, 1])
    ("unproductive_rate", "Unproductive actions", "invalid, or no visible effect", True),
    ("redundant_write_rate", "Redundant writes", "left the file as it was", True),
    ("empty_search_rate", "Empty searches", "searches that found nothing", True),
    ("read_use_rate", "Reads used", "a result line reappears in a later reply", True),
    ("fallback_rate", "Fallback steps", "no valid action committed", True),
    ("writes_per_search", "Writes per search", "successful writes / searches", False),
    ("input_tokens_per_step", "Input tokens / step", "prompt tokens per step", False),
    ("output_tokens_per_step", "Output tokens / step", "completion tokens per step", False),
    ("model_errors", "Model errors", "calls that failed", False),
)


def fmt_rate(key: str, value: float, is_rate: bool) -> str:
    if is_rate:
        return f"{100 * value:.1f}%"
    if key == "writes_per_search":
        return f"{value:.2f}"
    return fmt_int(value)


def behaviour_section(runs: Sequence[RunData]) -> str:
    multi = len(runs) > 1
    head = (
        "<tr><th>Measure</th><th></th>"
        + "".join(
            f'<th class="num">{f"{swatch(i)}{run_heading(r)}" if multi else "Value"}</th>'
            for i, r in enumerate(runs)
        )
        + "</tr>"
    )
    body = []
    for key, label, desc, is_rate in BEHAVIOUR:
        cells = "".join(
            f'<td class="num">{fmt_rate(key, r.rates[key], is_rate) if key in r.rates else "—"}'
            "</td>"
            for r in runs
        )
        body.append(
            f'<tr data-measure="{key}"><th scope="row">{escape(label)}</th>'
            f'<td class="desc">{escape(desc)}</td>{cells}</tr>'
        )
    counts = [
        ("Writes", "writes"),
        ("Searches", "searches"),
        ("Reads", "reads"),
        ("Refused commands", "refused_commands"),
        ("Reward events", "reward_events"),
    ]
    for label, attr in counts:
        cells = "".join(
            f'<td class="num">{fmt_int(sum(getattr(e.stats, attr) for e in r.episodes if e.stats))}'
            "</td>"
            for r in runs
        )
        body.append(
            f'<tr data-measure="{attr}" class="count"><th scope="row">{escape(label)}</th>'
            f'<td class="desc">total over episodes</td>{cells}</tr>'
        )
    chart_rows = [
        (label, [r.rates.get(key) for r in runs])
        for key, label, _desc, is_rate in BEHAVIOUR
        if is_rate
    ]
    chart = hbar_chart(chart_rows, [r.label for r in runs], title="Behavioural rates")
    layout = "grid2 wide-left" if len(runs) <= 2 else "stack"
    return (
        f'<section id="behaviour"><h2>Behaviour</h2><div class="{layout}">'
        '<div class="card table-wrap"><table class="data" id="behaviour-table">'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"
        '<figure class="card chart-card" id="behaviour-chart"><figcaption>Rates, pooled over '
        f"episodes</figcaption>{chart}</figure></div></section>"
    )


def cost_section(runs: Sequence[RunData]) -> str:
    rows = []
    totals = [0, 0, 0, 0, 0, 0.0]
    for i, run in enumerate(runs):
        eps = [e.summary for e in run.episodes]
        calls = sum(e.totals.model_calls for e in eps)
        prompt = sum(e.totals.prompt_tokens for e in eps)
        completion = sum(e.totals.completion_tokens for e in eps)
        cached = sum(e.totals.cached_tokens for e in eps)
        steps = sum(e.steps for e in eps)
        cost = sum(e.totals.cost_usd for e in eps)
        for j, v in enumerate((calls, prompt, completion, cached, steps, cost)):
            totals[j] += v
        rows.append(
            (
                f"{swatch(i)}{run_heading(run)}",
                calls,
                prompt,
                completion,
                cached,
                steps,
                cost,
                len(eps),
            )
        )
    if len(runs) > 1:
        rows.append(("All runs", *totals, sum(len(r.episodes) for r in runs)))
    body = []
    for label, calls, prompt, completion, cached, steps, cost, n in rows:
        per_step = (prompt + completion) / steps if steps else 0
        per_ep = cost / n if n else 0
        cls = ' class="total"' if label == "All runs" else ""
        body.append(
            f"<tr{cls}><th scope=row>{label}</th><td class=num>{fmt_int(calls)}</td>"
            f"<td class=num>{fmt_count(prompt)}</td><td class=num>{fmt_count(completion)}</td>"
            f"<td class=num>{fmt_count(cached)}</td>"
            f"<td class=num><strong>{fmt_count(prompt + completion)}</strong></td>"
            f"<td class=num>{fmt_count(per_step)}</td>"
            f"<td class=num><strong>{fmt_cost(cost)}</strong></td>"
            f"<td class=num>{fmt_cost(per_ep)}</td></tr>"
        )
    tiles = ""
    if rows:
        last = rows[-1]
        tiles = (
            '<div class="tiles">'
            f'<div class="tile"><span class="k">Total tokens</span>'
            f'<span class="v" id="total-tokens">{fmt_count(last[2] + last[3])}</span></div>'
            f'<div class="tile"><span class="k">Total cost</span>'
            f'<span class="v" id="total-cost">{fmt_cost(last[6])}</span></div>'
            f'<div class="tile"><span class="k">Model calls</span>'
            f'<span class="v">{fmt_int(last[1])}</span></div>'
            f'<div class="tile"><span class="k">Steps</span>'
            f'<span class="v">{fmt_int(last[5])}</span></div></div>'
        )
    return (
        '<section id="cost"><h2>Tokens and cost</h2>' + tiles + '<div class="card table-wrap">'
        '<table class="data" id="cost-table"><thead><tr><th>Run</th><th class=num>Calls</th>'
        "<th class=num>Prompt</th><th class=num>Completion</th><th class=num>Cached</th>"
        "<th class=num>Total tokens</th><th class=num>Tokens / step</th><th class=num>Cost</th>"
        f"<th class=num>Cost / episode</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</div></section>"
    )


def lineage_section(runs: Sequence[RunData]) -> str:
    if len(runs) < 2:
        return ""
    labels = [f"v{r.version}" if r.version is not None else f"#{i + 1}" for i, r in enumerate(runs)]
    games = sorted({g for r in runs for g in r.summary.games})
    lines: list[tuple[str, list[Point | None]]] = []
    overall: list[Point | None] = []
    for r in runs:
        o = r.summary.overall
        overall.append(Point(o.progression.mean, o.progression.se, r.label) if o else None)
    lines.append(("all games" if len(games) > 1 else (games[0] if games else "all"), overall))
    if len(games) > 1:
        for game in games:
            pts: list[Point | None] = []
            for r in runs:
                g = r.summary.games.get(game)
                pts.append(Point(g.progression.mean, g.progression.se, r.label) if g else None)
            lines.append((game, pts))
    chart = line_chart(labels, lines, title="Progression by version", y_title="progression")
    source = (
        "versions from run.json's lineage"
        if all(r.version is not None for r in runs)
        else "in the order the runs were given"
    )
    rows = []
    previous: float | None = None
    for label, r in zip(labels, runs, strict=True):
        o = r.summary.overall
        value, delta, cls = "—", "", ""
        if o is not None:
            value = fmt_pct(o.progression)
            if previous is not None:
                change = 100 * (o.progression.mean - previous)
                delta = f"{change:+.1f}"
                cls = "up" if change > 0.05 else "down" if change < -0.05 else ""
            previous = o.progression.mean
        rows.append(
            f'<tr><th scope=row>{escape(label)}</th><td class="wrap">{escape(r.label)}</td>'
            f"<td class=wrap>{escape(r.parent) if r.parent else '—'}</td>"
            f"<td class=num>{len(r.episodes)}</td><td class=num>{value}</td>"
            f'<td class=num><span class="{cls}">{delta}</span></td></tr>'
        )
    table = (
        '<div class="card table-wrap"><table class="data" id="lineage-table"><thead><tr>'
        "<th>Version</th><th>Run</th><th>Parent</th><th class=num>Episodes</th>"
        "<th class=num>Progression %</th><th class=num>Change</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return (
        '<section id="lineage"><h2>Progression by version</h2><div class="grid2 wide-left">'
        '<figure class="card chart-card" id="lineage-chart"><figcaption>Mean progression ± '
        f"standard error per version ({escape(source)})</figcaption>{chart}</figure>"
        f"{table}</div></section>"
    )


def icon(path: str) -> str:
    return (
        '<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">'
        f'<path d="{path}" fill="currentColor"/></svg>'
    )


ICONS = {
    "first": icon("M3 2h2v12H3zM14 2v12L6 8z"),
    "prev": icon("M12 2v12L4 8z"),
    "next": icon("M4 2v12l8-6z"),
    "last": icon("M11 2h2v12h-2zM2 2v12l8-6z"),
}

VIEWER_TEMPLATE = """
<section id="viewer"><h2>Trajectories</h2>
<div class="card viewer" id="viewer-root">
  <div class="controls">
    <label class="field">Run <select id="run-select"></select></label>
    <label class="field grow">Episode <select id="episode-select"></select></label>
    <div class="stepper">
      <button id="first-step" title="First step (Home)" aria-label="First step">{first}</button>
      <button id="prev-step" title="Previous step (&#x2190;; Shift: 10)"
        aria-label="Previous step">{prev}</button>
      <input type="range" id="step-slider" min="0" max="0" value="0" aria-label="Step">
      <button id="next-step" title="Next step (&#x2192;; Shift: 10)"
        aria-label="Next step">{next}</button>
      <button id="last-step" title="Last step (End)" aria-label="Last step">{last}</button>
      <label class="jump">Step <input type="number" id="step-input" min="0" value="0">
        <span class="muted">/ <span id="step-count">0</span></span></label>
    </div>
  </div>
  <div id="timeline" title="Click to jump to a step"></div>
  <div class="legend muted"><span><i class="lg-gain"></i>progression gained</span>
    <span><i class="lg-rew"></i>reward</span><span><i class="lg-bad"></i>invalid action</span>
    <span><i class="lg-fb"></i>fallback</span><span><i class="lg-mem"></i>memory write</span>
    <span><i class="lg-prog"></i>progression</span></div>
  <div class="panes">
    <div class="pane-left">
      <div id="step-info" class="step-info"></div>
      <div class="block"><h3>Observation <span class="muted" id="obs-note"></span></h3>
        <pre id="observation" class="obs"></pre></div>
      <div class="block"><h3>Model turns</h3><div id="turns"></div></div>
    </div>
    <div class="pane-right">
      <div class="block"><h3>Memory <span class="muted" id="memory-note"></span></h3>
        <div id="memory-panel"></div></div>
    </div>
  </div>
  <p class="keys muted">Keys: &#x2190; / &#x2192; step, Shift+&#x2190; / &#x2192; ten steps,
    PgUp / PgDn a hundred, Home / End first and last.</p>
</div>
</section>
"""
VIEWER = VIEWER_TEMPLATE.format(**ICONS)


def page(
    *,
    title: str,
    subtitle: str,
    sections: Sequence[str],
    data_json: str,
    generator: str,
    nav: Sequence[tuple[str, str]],
    viewer: bool = True,
) -> str:
    links = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="generator" content="{escape(generator)}">'
        f"<title>{escape(title)}</title><style>{asset('report.css')}</style></head>"
        '<body><header class="top"><div class="wrap">'
        f'<h1>{escape(title)}</h1><p class="sub">{subtitle}</p>'
        f'<nav class="nav">{links}</nav></div></header>'
        f'<main class="wrap">{"".join(sections)}</main>'
        f'<footer class="wrap muted">{escape(generator)} · a self-contained file: it loads '
        "nothing from the network.</footer>"
        f'<script type="application/json" id="report-data">{data_json}</script>'
        + (f"<script>{asset('viewer.js')}</script>" if viewer else "")
        + "</body></html>\n"
    )
