"""``summary.md``: an optimisation's lineage for a reader, rewritten whenever the lineage is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automem.optimize.lineage import Lineage, StageRecord, VersionRecord

if TYPE_CHECKING:
    from automem.optimize.config import OptimizeConfig
    from automem.optimize.layout import OptDir


def cell(text: str, width: int = 160) -> str:
    """Untrusted text as one Markdown table cell: one line, no pipes, shortened."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def stage_text(stage: StageRecord | None) -> str:
    if stage is None:
        return "—"
    if not stage.valid:
        return f"invalid ({stage.finished}/{stage.episodes} finished)"
    if stage.mean is None:
        return "—"
    return f"{100 * stage.mean:.1f} ± {100 * (stage.se or 0):.1f} (n={stage.finished})"


def render(lineage: Lineage, config: OptimizeConfig, best: VersionRecord | None) -> str:
    tasks = ", ".join(t.env for t in config.tasks)
    rule = config.acceptance.kind
    lines = [
        "# Optimisation",
        "",
        f"- status: **{lineage.status}**" + (f": {cell(lineage.reason)}" if lineage.reason else ""),
        f"- tasks: {tasks} ({config.game}); start scaffold: {config.scaffold}",
        f"- agent model: {config.model}; reviewer: {config.reviewer}; rule: {rule}",
        f"- best version: {f'v{best.version} {best.scaffold}' if best else 'none yet'}",
        f"- spent: {lineage.episodes} episodes, {lineage.review_tokens:,} reviewer tokens, "
        f"${lineage.review_cost_usd:.4f} reviewer cost, {lineage.elapsed_s:.0f} s",
        "",
        "## Versions (progression %, mean ± standard error)",
        "",
        "| version | scaffold | from attempt | gate | held-out | code |",
        "|---|---|---|---|---|---|",
    ]
    for v in lineage.versions:
        code = "yes" if v.plugins else ""
        lines.append(
            f"| v{v.version} | {cell(v.scaffold)} | {v.attempt or 'start'} | "
            f"{stage_text(v.gate)} | {stage_text(v.heldout)} | {code} |"
        )
    if lineage.abandoned:
        lines += ["", f"Abandoned rounds: {', '.join(f'v{n}' for n in lineage.abandoned)}."]
    lines += [
        "",
        "## Attempts",
        "",
        "| attempt | kind | parent | verdict | at | reason | description | review tokens | "
        "episodes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in lineage.attempts:
        verdict = a.verdict or a.status
        lines.append(
            f"| {a.id} | {a.kind} | {cell(a.parent)} | {verdict} | {a.ended_at_stage or '—'} | "
            f"{cell(a.reason)} | {cell(a.description)} | {a.review_tokens:,} | {a.episodes} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(
    opt: OptDir, lineage: Lineage, config: OptimizeConfig, best: VersionRecord | None
) -> None:
    from automem.optimize.layout import write_text_atomic

    write_text_atomic(opt.summary_path, render(lineage, config, best))
