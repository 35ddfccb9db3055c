"""The report page of an optimisation directory (``automem report opt/NAME``).

Progression per version on the gate and held-out seeds with standard-error intervals, the
versions, and every attempt with its verdict, the rule's statistic, description, cost and
diff. Everything in the lineage, the reviews and the diffs is untrusted text: escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from automem import __version__
from automem.optimize.layout import OptDir, OptimizeDirError
from automem.optimize.lineage import AttemptRecord, Lineage, LineageError, StageRecord, read_lineage
from automem.optimize.review import ReviewOutcome
from automem.report import html
from automem.report.charts import Point, line_chart
from automem.report.load import ReportError

CODE_BADGE = '<span class="badge warn" title="loads helper source the reviewer wrote">code</span>'
BADGES = {"accepted": "ok", "rejected": "neutral", "invalid": "bad", "failed": "warn"}


def load(root: Path) -> tuple[dict, Lineage]:  # type: ignore[type-arg]
    opt = OptDir(root)
    try:
        record = opt.record()
    except OptimizeDirError as exc:
        raise ReportError(str(exc)) from None
    if not opt.lineage_path.exists():
        raise ReportError(f"{opt.lineage_path} does not exist: the optimisation has not started")
    try:
        return record, read_lineage(opt.lineage_path)
    except LineageError as exc:
        raise ReportError(str(exc)) from None


def _point(stage: StageRecord | None, label: str) -> Point | None:
    if stage is None or not stage.valid or stage.mean is None:
        return None
    return Point(stage.mean, stage.se or 0.0, label)


def _stage(stage: StageRecord | None) -> str:
    if stage is None:
        return "—"
    if not stage.valid:
        return f'<span class="badge bad" title="{escape("; ".join(stage.reasons))}">invalid</span>'
    if stage.mean is None:
        return "—"
    value = f"{100 * stage.mean:.1f} ± {100 * (stage.se or 0):.1f}"
    return f"{value} <span class=muted>n={stage.finished}</span>"


def progression_section(lineage: Lineage) -> str:
    labels = [f"v{v.version}" for v in lineage.versions]
    lines = [
        ("gate seeds", [_point(v.gate, v.scaffold) for v in lineage.versions]),
        ("held-out seeds", [_point(v.heldout, v.scaffold) for v in lineage.versions]),
    ]
    chart = line_chart(labels, lines, title="Progression by version", y_title="progression")
    rows = "".join(
        f"<tr><th scope=row>v{v.version}</th><td class=wrap>{escape(v.scaffold)}</td>"
        f"<td>{escape(v.attempt or 'start')}</td><td class=wrap>{escape(v.parent or '—')}</td>"
        f"<td class=num>{_stage(v.gate)}</td><td class=num>{_stage(v.heldout)}</td>"
        f"<td>{CODE_BADGE if v.plugins else ''}</td></tr>"
        for v in lineage.versions
    )
    abandoned = (
        f"<p class=muted>Rounds abandoned (no candidate accepted): "
        f"{escape(', '.join(f'v{n}' for n in lineage.abandoned))}.</p>"
        if lineage.abandoned
        else ""
    )
    return (
        '<section id="progression"><h2>Progression by version</h2><div>'
        '<figure class="card chart-card" id="optimization-chart"><figcaption>Mean progression ± '
        "standard error of each version on the gate seeds (where it was chosen) and on the "
        f"held-out seeds (never used to choose)</figcaption>{chart}</figure>"
        '<div class="card table-wrap"><table class="data" id="versions-table"><thead><tr>'
        "<th>Version</th><th>Scaffold</th><th>Attempt</th><th>Parent</th>"
        "<th class=num>Gate %</th><th class=num>Held-out %</th><th>Code</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{abandoned}</div></div></section>"
    )


def _statistic(a: AttemptRecord) -> str:
    decision = a.decision or a.screen_decision
    if decision is None:
        return "—"
    values = ", ".join(f"{k} {v:+.4f}" for k, v in decision.statistics.items())
    return f"{escape(decision.rule)}: {escape(values) or '—'}"


def _attempt(root: Path, a: AttemptRecord) -> str:
    folder = root / "attempts" / a.id
    diff = _read(folder / "diff.patch")
    analysis = ""
    if (folder / "review.json").exists():
        try:
            outcome = ReviewOutcome.model_validate_json(_read(folder / "review.json"))
            analysis = outcome.analysis
        except ValueError:
            analysis = "(review.json is not a valid review outcome)"
    cost = a.review_cost_usd
    verdict = a.verdict or a.status
    details = ""
    if diff or analysis:
        details = (
            f'<details class="attempt-detail"><summary>diff and analysis</summary>'
            f"<h4>Diff against {escape(a.parent)}</h4><pre class=diff>{escape(diff) or '—'}</pre>"
            f"<h4>Analysis</h4><pre>{escape(analysis) or '—'}</pre></details>"
        )
    return (
        f'<tr data-attempt="{escape(a.id)}" data-verdict="{escape(verdict)}">'
        f"<th scope=row>{escape(a.id)}</th><td>{escape(a.kind)}</td>"
        f"<td class=wrap>{escape(a.parent)}</td>"
        f'<td><span class="badge {BADGES.get(verdict, "neutral")}">{escape(verdict)}</span> '
        f"<span class=muted>{escape(a.ended_at_stage or '')}</span></td>"
        f"<td class=wrap>{_statistic(a)}<br><span class=muted>{escape(a.reason)}</span></td>"
        f"<td class=wrap>{escape(a.description)}{details}</td>"
        f"<td class=num>{html.fmt_count(a.review_tokens)}"
        f"{'' if cost is None else '<br>' + html.fmt_cost(cost)}</td>"
        f"<td class=num>{a.episodes}</td></tr>"
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def attempts_section(root: Path, lineage: Lineage) -> str:
    rows = "".join(_attempt(root, a) for a in lineage.attempts)
    return (
        '<section id="attempts"><h2>Attempts</h2><div class="card table-wrap">'
        '<table class="data" id="attempts-table"><thead><tr><th>Attempt</th><th>Kind</th>'
        "<th>Parent</th><th>Verdict</th><th>Statistic and reason</th><th>Description</th>"
        "<th class=num>Reviewer tokens / cost</th><th class=num>Episodes</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def overview_section(record: dict, lineage: Lineage) -> str:  # type: ignore[type-arg]
    config = record.get("config", {})
    tasks = ", ".join(str(t.get("env")) for t in config.get("tasks", []))
    rule = (config.get("acceptance") or {}).get("kind", "?")
    items = [
        ("Status", f"{lineage.status}: {lineage.reason}" if lineage.reason else lineage.status),
        ("Tasks", tasks),
        ("Start scaffold", str(config.get("scaffold", ""))),
        ("Agent model", str(config.get("model", ""))),
        ("Reviewer", str(config.get("reviewer", ""))),
        ("Acceptance rule", str(rule)),
        (
            "Spent",
            f"{lineage.episodes} episodes, {lineage.review_tokens:,} reviewer tokens, "
            f"${lineage.review_cost_usd:.4f} reviewer cost, {lineage.elapsed_s:.0f} s",
        ),
    ]
    rows = "".join(f"<tr><th scope=row>{k}</th><td>{escape(v)}</td></tr>" for k, v in items)
    return (
        '<section id="overview"><h2>Optimisation</h2><div class="card table-wrap">'
        f'<table class="data" id="overview-table"><tbody>{rows}</tbody></table></div></section>'
    )


@dataclass(frozen=True)
class Shown:
    title: str
    runs: int  # evaluation run directories
    episodes: int


def render_optimization(root: Path, *, title: str | None = None) -> tuple[str, Shown]:
    """The page's HTML, and what it shows."""
    record, lineage = load(root)
    title = title or f"AutoMem optimisation · {root.resolve().name}"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (
        f"{len(lineage.versions)} version(s) · {len(lineage.attempts)} attempt(s) · "
        f"{lineage.episodes} episodes · generated {generated}"
    )
    text = html.page(
        title=title,
        subtitle=escape(subtitle),
        sections=[
            overview_section(record, lineage),
            progression_section(lineage),
            attempts_section(root, lineage),
        ],
        data_json="{}",
        generator=f"automem {__version__}",
        nav=[("overview", "Optimisation"), ("progression", "By version"), ("attempts", "Attempts")],
        viewer=False,
    )
    stages = sum(
        s is not None for a in lineage.attempts for s in (a.screen, a.gate, a.heldout)
    ) + sum(1 + (v.heldout is not None) for v in lineage.versions if v.attempt is None)
    return text, Shown(title, stages, lineage.episodes)
