"""Small static SVG charts, built as strings (no plotting library, nothing to load at view time).

Every chart is an ``<svg class="chart" viewBox=...>`` that scales to its container's width;
marks carry ``<title>`` tooltips and ``data-*`` attributes naming what they show, so tests
and readers can tell which bar is which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

# A restrained categorical palette (one colour per run), readable on white and in print.
PALETTE = (
    "#3867a8",
    "#d4843a",
    "#4e9a6a",
    "#b24d5a",
    "#7b66a8",
    "#3f9aa6",
    "#8d7b58",
    "#6b7280",
)
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e6e9ee"
AXIS = "#c3cad3"
CHAR_W = 6.2  # average glyph width at 11px, to fit labels without measuring text


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def fmt_num(v: float, digits: int = 3) -> str:
    """A number without trailing zeros, for SVG coordinates."""
    text = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def nice_ticks(hi: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``hi`` (about ``count`` intervals)."""
    if not math.isfinite(hi) or hi <= 0:
        hi = 1.0
    raw = hi / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def tick_label(v: float, percent: bool) -> str:
    if percent:
        return f"{v:g}%"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def shorten(label: str, width: float) -> str:
    chars = max(3, int(width / CHAR_W))
    return label if len(label) <= chars else label[: chars - 1] + "…"


SEPARATORS = "-_/. :"


def _common_start(texts: Sequence[str]) -> str:
    """The longest start all texts share, up to and including its last separator."""
    shared = 0
    for chars in zip(*texts, strict=False):
        if len(set(chars)) > 1:
            break
        shared += 1
    start = texts[0][:shared]
    return start[: max(start.rfind(c) + 1 for c in SEPARATORS)]


def _drop_common(labels: Sequence[str]) -> list[str]:
    """The labels without the start and end all of them share, cut at a separator
    (``MiniHack-`` and ``-v0`` of the MiniHack tasks), unless that would empty one."""
    prefix = _common_start(labels)
    suffix = _common_start([label[::-1] for label in labels])
    cut = [label[len(prefix) : len(label) - len(suffix)] for label in labels]
    return cut if all(cut) else list(labels)


def _cut(label: str, chars: int, head: int) -> str:
    """At most ``chars`` characters: the first ``head``, an ellipsis, then the end."""
    if len(label) <= chars:
        return label
    tail = chars - 1 - head
    return label[:head] + "…" + (label[-tail:] if tail else "")


def short_labels(labels: Sequence[str], width: float) -> list[str]:
    """Labels that fit ``width`` each and still tell apart what they name.

    Labels that fit are kept whole. Otherwise the start and end that all share are dropped,
    then a label still too long loses its end, or, if that makes two labels equal, its
    middle (the end of a task name is often what tells it apart, as in MazeWalk-9x9 and
    MazeWalk-15x15). Charts give the full name in each label's ``<title>``.
    """
    chars = max(3, int(width / CHAR_W))
    if all(len(label) <= chars for label in labels):
        return list(labels)
    core = _drop_common(labels) if len(labels) > 1 else list(labels)
    wanted = len(set(core))
    heads = [chars - 1, chars // 2, *range(chars - 2, -1, -1)]  # end cut, middle, the rest
    for head in heads:
        cut = [_cut(label, chars, head) for label in core]
        if len(set(cut)) == wanted:
            return cut
    return [_cut(label, chars, chars - 1) for label in core]  # too narrow to tell apart


class Svg:
    def __init__(self, width: int, height: int, label: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []
        self.label = label

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "middle",
        size: int = 11,
        fill: str = MUTED,
        weight: str | None = None,
        title: str | None = None,
    ) -> None:
        extra = f' font-weight="{weight}"' if weight else ""
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.add(
            f'<text x="{fmt_num(x)}" y="{fmt_num(y)}" text-anchor="{anchor}" '
            f'font-size="{size}" fill="{fill}"{extra}>{tip}{escape(text)}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, w: float = 1) -> None:
        self.add(
            f'<line x1="{fmt_num(x1)}" y1="{fmt_num(y1)}" x2="{fmt_num(x2)}" y2="{fmt_num(y2)}" '
            f'stroke="{stroke}" stroke-width="{fmt_num(w)}"/>'
        )

    def render(self, cls: str = "chart", max_width: int | None = None) -> str:
        style = f' style="max-width:{max_width}px"' if max_width else ""
        return (
            f'<svg class="{cls}"{style} viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{escape(self.label)}" xmlns="http://www.w3.org/2000/svg" '
            f'preserveAspectRatio="xMidYMid meet">' + "".join(self.parts) + "</svg>"
        )


def legend(svg: Svg, names: Sequence[str], x_right: float, y: float) -> None:
    """Swatches and names, right-aligned on one row."""
    x = x_right
    short = short_labels(names, 180)
    for i in reversed(range(len(names))):
        name = short[i]
        w = len(name) * CHAR_W + 22
        x -= w
        svg.add(
            f'<rect x="{fmt_num(x)}" y="{fmt_num(y - 8)}" width="10" height="10" rx="2" '
            f'fill="{colour(i)}"/>'
        )
        svg.text(x + 15, y + 1, name, anchor="start", fill=INK, title=names[i])


def y_axis(
    svg: Svg,
    ticks: Sequence[float],
    top: float,
    bottom: float,
    left: float,
    right: float,
    *,
    percent: bool,
    title: str = "",
) -> None:
    hi = ticks[-1] or 1.0
    for t in ticks:
        y = bottom - (bottom - top) * t / hi
        svg.line(left, y, right, y, GRID if t else AXIS)
        svg.text(left - 6, y + 4, tick_label(t, percent), anchor="end", size=10)
    if title:
        svg.add(
            f'<text transform="translate(12 {fmt_num((top + bottom) / 2)}) rotate(-90)" '
            f'text-anchor="middle" font-size="10" fill="{MUTED}">{escape(title)}</text>'
        )


# --------------------------------------------------------------------------- bar chart


@dataclass
class Bar:
    """One bar: a mean with its standard error and the values it averages (dots)."""

    mean: float
    se: float = 0.0
    dots: list[tuple[str, float]] = field(default_factory=list)  # (label, value)
    label: str = ""


def bar_chart(
    categories: Sequence[str],
    series: Sequence[str],
    bars: Sequence[Sequence[Bar | None]],
    *,
    title: str,
    percent: bool = True,
    y_title: str = "",
    width: int = 600,
    height: int = 250,
) -> str:
    """Grouped bars (``bars[category][series]``) with error bars and per-item dots.

    Few bars get a narrower chart (shown no wider than it is drawn) rather than wide gaps.
    """
    width = max(360, min(width, 110 + len(categories) * max(len(series), 1) * 70))
    svg = Svg(width, height, title)
    left, right, top, bottom = 52, width - 12, 30 if len(series) > 1 else 14, height - 34
    scale = 100.0 if percent else 1.0
    hi = 0.0
    for row in bars:
        for bar in row:
            if bar is None:
                continue
            hi = max(hi, (bar.mean + bar.se) * scale, *(v * scale for _, v in bar.dots))
    ticks = nice_ticks(hi if hi > 0 else (10.0 if percent else 1.0))
    y_axis(svg, ticks, top, bottom, left, right, percent=percent, title=y_title)
    span = ticks[-1] or 1.0

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * min(max(v * scale / span, 0.0), 1.0)

    group = (right - left) / max(len(categories), 1)
    bw = min(56.0, group * 0.72 / max(len(series), 1))
    labels = short_labels(categories, group - 10)  # a gap between neighbours
    for ci, category in enumerate(categories):
        cx = left + group * (ci + 0.5)
        svg.text(cx, bottom + 16, labels[ci], fill=INK, title=category)
        x0 = cx - bw * len(series) / 2
        for si, bar in enumerate(bars[ci]):
            if bar is None:
                continue
            x = x0 + si * bw
            y = y_of(bar.mean)
            tip = escape(
                f"{bar.label or series[si]} · {category}: "
                + (
                    f"{100 * bar.mean:.1f}% ± {100 * bar.se:.1f}"
                    if percent
                    else f"{bar.mean:.3g} ± {bar.se:.2g}"
                )
                + f" (n={len(bar.dots)})"
            )
            svg.add(
                f'<rect class="bar" data-category="{escape(category)}" '
                f'data-series="{escape(series[si])}" data-mean="{bar.mean:.6g}" '
                f'data-se="{bar.se:.6g}" x="{fmt_num(x + 2)}" y="{fmt_num(y)}" '
                f'width="{fmt_num(bw - 4)}" height="{fmt_num(bottom - y)}" rx="2" '
                f'fill="{colour(si)}" fill-opacity="0.82"><title>{tip}</title></rect>'
            )
            if bar.se > 0:
                lo, up = y_of(bar.mean - bar.se), y_of(bar.mean + bar.se)
                mid = x + bw / 2
                svg.line(mid, lo, mid, up, INK, 1.2)
                svg.line(mid - 4, lo, mid + 4, lo, INK, 1.2)
                svg.line(mid - 4, up, mid + 4, up, INK, 1.2)
            m = len(bar.dots)
            for di, (dot_label, value) in enumerate(bar.dots):
                offset = 0.0 if m == 1 else (di / (m - 1) - 0.5) * (bw - 12) * 0.7
                svg.add(
                    f'<circle class="dot" cx="{fmt_num(x + bw / 2 + offset)}" '
                    f'cy="{fmt_num(y_of(value))}" r="3" fill="#fff" stroke="{INK}" '
                    f'stroke-width="1.1"><title>{escape(dot_label)}: '
                    f"{(f'{100 * value:.1f}%' if percent else f'{value:.3g}')}"
                    f"</title></circle>"
                )
    if len(series) > 1:
        legend(svg, series, right, 14)
    return svg.render(max_width=width if width < 600 else None)


# --------------------------------------------------------------------------- line chart


@dataclass
class Point:
    mean: float
    se: float = 0.0
    label: str = ""


def line_chart(
    x_labels: Sequence[str],
    lines: Sequence[tuple[str, Sequence[Point | None]]],
    *,
    title: str,
    percent: bool = True,
    y_title: str = "",
    width: int = 640,
    height: int = 270,
) -> str:
    """Lines over categorical x positions (e.g. scaffold versions), with standard-error bands."""
    svg = Svg(width, height, title)
    left, right, top, bottom = 52, width - 16, 30 if len(lines) > 1 else 14, height - 34
    scale = 100.0 if percent else 1.0
    hi = max([(p.mean + p.se) * scale for _, pts in lines for p in pts if p is not None] or [0.0])
    ticks = nice_ticks(hi if hi > 0 else (10.0 if percent else 1.0))
    y_axis(svg, ticks, top, bottom, left, right, percent=percent, title=y_title)
    span = ticks[-1] or 1.0
    n = len(x_labels)
    pad = 28.0

    def x_of(i: int) -> float:
        return (left + right) / 2 if n == 1 else left + pad + (right - left - 2 * pad) * i / (n - 1)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * min(max(v * scale / span, 0.0), 1.0)

    step_w = (right - left) / max(n, 1)
    for i, (label, short) in enumerate(zip(x_labels, short_labels(x_labels, step_w), strict=True)):
        svg.text(x_of(i), bottom + 16, short, fill=INK, title=label)
    for li, (name, pts) in enumerate(lines):
        c = colour(li)
        known = [(i, p) for i, p in enumerate(pts) if p is not None]
        if len(known) > 1:
            upper = [f"{fmt_num(x_of(i))},{fmt_num(y_of(p.mean + p.se))}" for i, p in known]
            lower = [f"{fmt_num(x_of(i))},{fmt_num(y_of(p.mean - p.se))}" for i, p in known]
            svg.add(
                f'<polygon points="{" ".join(upper + lower[::-1])}" fill="{c}" '
                f'fill-opacity="0.12" stroke="none"/>'
            )
            path = " ".join(f"{fmt_num(x_of(i))},{fmt_num(y_of(p.mean))}" for i, p in known)
            svg.add(
                f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2" '
                f'stroke-linejoin="round"/>'
            )
        for i, p in known:
            x, y = x_of(i), y_of(p.mean)
            if p.se > 0:
                svg.line(x, y_of(p.mean - p.se), x, y_of(p.mean + p.se), c, 1.2)
            value = f"{100 * p.mean:.1f}% ± {100 * p.se:.1f}" if percent else f"{p.mean:.3g}"
            svg.add(
                f'<circle class="point" data-series="{escape(name)}" '
                f'data-x="{escape(x_labels[i])}" data-mean="{p.mean:.6g}" cx="{fmt_num(x)}" '
                f'cy="{fmt_num(y)}" r="4" fill="{c}" stroke="#fff" stroke-width="1.5">'
                f"<title>{escape(p.label or x_labels[i])} · {escape(name)}: {value}</title>"
                f"</circle>"
            )
    if len(lines) > 1:
        legend(svg, [name for name, _ in lines], right, 14)
    return svg.render()


# --------------------------------------------------------------------------- step curves


def curves_chart(
    curves: Sequence[tuple[int, str, Sequence[tuple[int, float]]]],
    series: Sequence[str],
    *,
    title: str,
    max_step: int,
    width: int = 600,
    height: int = 250,
) -> str:
    """Progression over an episode's steps: one step line per episode, coloured by series.

    ``curves`` holds (series index, episode label, [(step, progression)]) where the points are
    the steps at which progression changed (and the last step).
    """
    svg = Svg(width, height, title)
    left, right, top, bottom = 52, width - 12, 30 if len(series) > 1 else 14, height - 34
    hi = max([v * 100 for _, _, pts in curves for _, v in pts] or [0.0])
    ticks = nice_ticks(hi if hi > 0 else 10.0)
    y_axis(svg, ticks, top, bottom, left, right, percent=True)
    span = ticks[-1] or 1.0
    x_ticks = nice_ticks(max(max_step, 1), 6)
    x_hi = x_ticks[-1] or 1.0

    def x_of(step: float) -> float:
        return left + (right - left) * step / x_hi

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * min(v * 100 / span, 1.0)

    for t in x_ticks:
        svg.line(x_of(t), bottom, x_of(t), bottom + 4, AXIS)
        svg.text(x_of(t), bottom + 16, tick_label(t, False), size=10)
    svg.text(right, bottom + 30, "step", anchor="end", size=10)
    for si, label, pts in curves:
        coords = [(0.0, 0.0)]
        for step, value in pts:
            coords.append((float(step), coords[-1][1]))
            coords.append((float(step), value))
        path = " ".join(f"{fmt_num(x_of(x))},{fmt_num(y_of(y))}" for x, y in coords)
        final = pts[-1][1] if pts else 0.0
        svg.add(
            f'<polyline class="curve" data-series="{escape(series[si])}" '
            f'data-episode="{escape(label)}" points="{path}" fill="none" stroke="{colour(si)}" '
            f'stroke-width="1.6" stroke-opacity="0.75" stroke-linejoin="round">'
            f"<title>{escape(series[si])} · {escape(label)}: {100 * final:.1f}%</title></polyline>"
        )
    if len(series) > 1:
        legend(svg, series, right, 14)
    return svg.render()


# --------------------------------------------------------------------------- horizontal bars


def hbar_chart(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    *,
    title: str,
    width: int = 560,
) -> str:
    """Rates in [0, 1], one row per measure and one thin bar per series."""
    label_w = 170
    bar_h = 9 if len(series) > 1 else 12
    row_h = bar_h * len(series) + 12
    top = 26 if len(series) > 1 else 8
    height = top + row_h * len(rows) + 22
    svg = Svg(width, height, title)
    left, right = label_w, width - 48
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + (right - left) * t
        svg.line(x, top - 2, x, top + row_h * len(rows), GRID if t else AXIS)
        svg.text(x, top + row_h * len(rows) + 14, f"{t:.0%}", size=10)
    for ri, (name, values) in enumerate(rows):
        y0 = top + ri * row_h + 6
        svg.text(left - 8, y0 + bar_h * len(series) / 2 + 4, name, anchor="end", fill=INK)
        for si, value in enumerate(values):
            if value is None:
                continue
            w = (right - left) * min(max(value, 0.0), 1.0)
            y = y0 + si * bar_h
            svg.add(
                f'<rect class="hbar" data-measure="{escape(name)}" '
                f'data-series="{escape(series[si])}" data-value="{value:.6g}" '
                f'x="{left}" y="{fmt_num(y)}" width="{fmt_num(max(w, 0.5))}" '
                f'height="{bar_h - 2}" rx="1.5" fill="{colour(si)}" fill-opacity="0.85">'
                f"<title>{escape(series[si])} · {escape(name)}: {value:.1%}</title></rect>"
            )
            svg.text(left + w + 4, y + bar_h - 3, f"{value:.0%}", anchor="start", size=9)
    if len(series) > 1:
        legend(svg, series, width - 8, 12)
    return svg.render()
