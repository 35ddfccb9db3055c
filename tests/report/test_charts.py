"""The SVG chart builders: well-formed SVG, one mark per value, values where they belong."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from automem.report.charts import (
    Bar,
    Point,
    bar_chart,
    curves_chart,
    hbar_chart,
    line_chart,
    nice_ticks,
    short_labels,
)
from automem.report.html import task_label
from automem.runs.suites import MINIHACK_TASKS

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on malformed markup
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    return root


@pytest.mark.parametrize(
    ("hi", "expected_top"), [(4.5, 5), (0.0, 1.0), (37, 40), (100, 100), (0.03, 0.03), (2300, 2500)]
)
def test_ticks_start_at_zero_and_cover_the_maximum(hi: float, expected_top: float) -> None:
    ticks = nice_ticks(hi)
    assert ticks[0] == 0 and ticks[-1] >= hi and ticks[-1] == pytest.approx(expected_top)
    assert 2 <= len(ticks) <= 7


def test_bar_chart_draws_one_bar_per_task_and_run_with_dots_and_error_bars() -> None:
    bars = [
        [Bar(0.25, 0.05, [("s1", 0.2), ("s2", 0.3)]), Bar(0.5, 0.0, [("s1", 0.5)])],
        [None, Bar(0.1, 0.02, [("s1", 0.08), ("s2", 0.12)])],
    ]
    root = parse(bar_chart(["crafter", "quest <&>"], ["v0", "v1"], bars, title="t"))
    rects = root.findall(".//s:rect[@class='bar']", NS)
    assert [(r.get("data-category"), r.get("data-series")) for r in rects] == [
        ("crafter", "v0"),
        ("crafter", "v1"),
        ("quest <&>", "v1"),
    ]
    assert [float(r.get("data-mean")) for r in rects] == [0.25, 0.5, 0.1]
    assert len(root.findall(".//s:circle[@class='dot']", NS)) == 5
    # Taller bars for larger means (y grows downwards).
    heights = [float(r.get("height")) for r in rects]
    assert heights[1] > heights[0] > heights[2] > 0
    assert len(root.findall(".//s:line", NS)) >= 2 * 3  # error bars (3 lines each) + grid
    assert "v0" in "".join(root.itertext())  # a legend for several runs


def test_bar_chart_of_zeros_still_has_an_axis() -> None:
    root = parse(bar_chart(["a"], ["r"], [[Bar(0.0, 0.0, [("s", 0.0)])]], title="t"))
    assert "10%" in "".join(root.itertext())


def test_line_chart_has_a_point_per_known_version_and_a_band() -> None:
    lines = [
        ("all games", [Point(0.1, 0.01), Point(0.15, 0.02), Point(0.2, 0.02)]),
        ("crafter", [Point(0.12, 0.0), None, Point(0.25, 0.03)]),
    ]
    root = parse(line_chart(["v0", "v1", "v2"], lines, title="by version"))
    points = root.findall(".//s:circle[@class='point']", NS)
    assert len(points) == 5
    assert [p.get("data-x") for p in points if p.get("data-series") == "crafter"] == ["v0", "v2"]
    assert len(root.findall(".//s:polyline", NS)) == 2
    assert len(root.findall(".//s:polygon", NS)) == 2
    ys = [float(p.get("cy")) for p in points if p.get("data-series") == "all games"]
    assert ys[0] > ys[1] > ys[2]  # rising progression goes up the page


def test_curves_chart_draws_a_step_line_per_episode() -> None:
    curves = [(0, "e1", [(10, 0.1), (40, 0.2), (59, 0.2)]), (1, "e2", [(59, 0.0)])]
    root = parse(curves_chart(curves, ["r0", "r1"], title="c", max_step=59))
    lines = root.findall(".//s:polyline[@class='curve']", NS)
    assert [ln.get("data-episode") for ln in lines] == ["e1", "e2"]
    assert len(lines[0].get("points").split()) == 1 + 2 * 3


def test_hbar_chart_clamps_rates_and_skips_missing_values() -> None:
    root = parse(hbar_chart([("a", [0.5, None]), ("b", [1.7, 0.0])], ["r0", "r1"], title="h"))
    bars = root.findall(".//s:rect[@class='hbar']", NS)
    assert [(b.get("data-measure"), b.get("data-series")) for b in bars] == [
        ("a", "r0"),
        ("b", "r0"),
        ("b", "r1"),
    ]
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] == pytest.approx(2 * widths[0])  # 1.7 is drawn as 100%


def axis_labels(root: ET.Element) -> dict[str, str]:
    """Full name (the label's <title>) -> the text drawn, for every titled label."""
    labels = {}
    for text in root.iter("{http://www.w3.org/2000/svg}text"):
        title = text.find("s:title", NS)
        if title is not None:
            labels[title.text or ""] = "".join(text.itertext())[len(title.text or "") :]
    return labels


@pytest.mark.parametrize("runs", [1, 2, 3])
def test_the_8_minihack_task_labels_stay_distinct_when_shortened(runs: int) -> None:
    tasks = [task_label(f"minihack/{t}") for t in MINIHACK_TASKS]  # as the report passes them
    series = [f"run {i}" for i in range(runs)]
    bars = [[Bar(0.5, 0.1, [("s", 0.5)]) for _ in series] for _ in tasks]
    labels = axis_labels(parse(bar_chart(tasks, series, bars, title="t")))
    drawn = [labels[t] for t in tasks]  # each label carries its full name as its title
    assert len(set(drawn)) == 8, drawn
    assert all(not d.startswith("MiniHack") and len(d) <= 10 for d in drawn), drawn


def test_short_labels_keep_what_fits_and_tell_apart_what_does_not() -> None:
    assert short_labels(["crafter", "nethack"], 60) == ["crafter", "nethack"]
    tasks = ["MiniHack-MazeWalk-9x9-v0", "MiniHack-MazeWalk-15x15-v0", "MiniHack-Quest-Easy-v0"]
    # Shared start and end dropped; cutting the end would make two equal, so the middle goes.
    assert short_labels(tasks, 62) == ["MazeW…-9x9", "MazeW…5x15", "Quest-Easy"]
    assert short_labels(tasks[:2], 62) == ["9x9", "15x15"]
    runs = short_labels(["runs/eval-v0-first-attempt-a", "runs/eval-v0-first-attempt-b"], 100)
    assert runs == ["a", "b"]  # only the part that tells them apart is left
