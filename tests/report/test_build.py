"""Building the report on real runs: one offline file, the right numbers, lineage order."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from automem.report import ReportError, build_report, render_report
from automem.runs import RunDir
from automem.runs.summary import summarise
from tests.report.conftest import copy_run

DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def embedded(text: str) -> dict:
    match = DATA.search(text)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_report_is_one_self_contained_file(crafter_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "report.html"
    info = build_report([crafter_run], out, title="My <run>")
    text = out.read_text(encoding="utf-8")
    assert info.path == out and info.bytes == len(text.encode()) and info.runs == 1
    assert info.episodes == 1 and info.steps == 60 and info.warnings == ()
    assert "<title>My &lt;run&gt;</title>" in text
    # Nothing is loaded from anywhere: no external src/href, no imports, and a CSP saying so.
    assert not re.search(r'(src|href)\s*=\s*"(?!#)', text)
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text
    assert not list(tmp_path.glob("nested/.*.tmp"))
    data = embedded(text)
    assert data["v"] == 1 and len(data["episodes"]) == 1 and data["episodes"][0]["n"] == 60
    for anchor in ("summary", "progression", "behaviour", "cost", "viewer"):
        assert f'id="{anchor}"' in text
    assert 'id="lineage"' not in text  # one run: no version chart


def test_summary_numbers_are_the_runs_summary(crafter_run: Path) -> None:
    text, _ = render_report([crafter_run])
    summary = summarise(list(RunDir(crafter_run).finished().values()))
    task = summary.tasks["crafter"]
    row = re.search(r'<tr class="row-game" data-key="crafter">(.*?)</tr>', text, re.S)
    assert row, "no crafter row"
    cells = dict(re.findall(r'data-col="([^"]+)">([^<]*)<', row.group(1)))
    assert cells["progression %"] == (
        f"{100 * task.progression.mean:.1f} ± {100 * task.progression.se:.1f}"
    )
    assert cells["invalid"] == f"{task.invalid_actions:,}"
    assert cells["fallbacks"] == f"{task.fallbacks:,}"
    assert cells["n"] == "1"
    assert 'id="behaviour-table"' in text and 'data-measure="unproductive_rate"' in text


def test_runs_with_a_lineage_are_ordered_by_version(crafter_run: Path, tmp_path: Path) -> None:
    new = copy_run(crafter_run, tmp_path / "b" / "gen", lineage={"version": 2, "parent": "gen0"})
    old = copy_run(crafter_run, tmp_path / "a" / "gen", lineage={"version": 1, "parent": None})
    text, info = render_report([new, old])
    assert info.runs == 2 and info.episodes == 2
    data = embedded(text)
    assert [r["version"] for r in data["runs"]] == [1, 2]
    assert [r["label"] for r in data["runs"]] == ["a/gen", "b/gen"]  # clashing names get parents
    assert 'id="lineage"' in text and "versions from run.json" in text
    # One summary row per run under the task, in version order, so the table keeps its width.
    rows = re.findall(r'<tr class="row-game[^"]*" data-key="crafter" data-run="(\d)">', text)
    assert rows == ["0", "1"]
    assert [e["run"] for e in data["episodes"]] == [0, 1]


def test_runs_without_lineage_keep_the_order_given(crafter_run: Path, tmp_path: Path) -> None:
    first = copy_run(crafter_run, tmp_path / "zeta")
    second = copy_run(crafter_run, tmp_path / "alpha")
    text, _ = render_report([first, second])
    assert [r["label"] for r in embedded(text)["runs"]] == ["zeta", "alpha"]
    assert "in the order the runs were given" in text


def test_without_trajectories_the_report_is_small(crafter_run: Path) -> None:
    full, info = render_report([crafter_run])
    small, small_info = render_report([crafter_run], trajectories=False)
    assert 'id="viewer-root"' not in small and embedded(small)["episodes"] == []
    assert small_info.data_bytes < 200 and small_info.bytes < info.bytes / 2
    assert "View</button>" not in small and "View</button>" in full


def test_a_corrupt_trace_is_a_warning_not_a_failure(crafter_run: Path, tmp_path: Path) -> None:
    broken = copy_run(crafter_run, tmp_path / "broken")
    trace = next(broken.glob("episodes/*/trace.jsonl"))
    trace.write_text(trace.read_text().splitlines()[0] + "\n{not json\n")
    text, info = render_report([broken])
    assert len(info.warnings) == 1 and "corrupt trace record" in info.warnings[0]
    assert "Warnings" in text and embedded(text)["episodes"] == []
    assert "no trace" in text  # the episode is listed, without a View button


def test_bad_run_directories_are_refused_with_their_path(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no run directories"):
        render_report([])
    with pytest.raises(ReportError, match="is not a directory"):
        render_report([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="not a run directory"):
        render_report([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{oops")
    with pytest.raises(ReportError, match=r"run\.json is not valid JSON"):
        render_report([tmp_path / "bad"])


def test_a_run_with_no_finished_episode_still_reports(crafter_run: Path, tmp_path: Path) -> None:
    empty = copy_run(crafter_run, tmp_path / "fresh")
    shutil.rmtree(empty / "episodes")
    (empty / "episodes").mkdir()
    text, info = render_report([empty])
    assert info.episodes == 0 and "No episode traces" not in text.split("<script")[0]
    assert embedded(text)["episodes"] == []


def fake_episode(root: Path, env: str, game: str, seed: int, progression: float) -> None:
    """A finished episode's result.json alone (no trace): enough for the summary tables."""
    episode_id = f"{env.replace('/', '__')}__seed{seed}"
    folder = root / "episodes" / episode_id
    folder.mkdir(parents=True)
    result = {
        "status": "finished",
        "reason": "max_steps",
        "steps": 10,
        "episode_return": 1.0,
        "progression": progression,
        "totals": {"prompt_tokens": 100, "completion_tokens": 10, "cost_usd": 0.5},
        "duration_s": 1.0,
        "episode_id": episode_id,
        "env_id": env,
        "game": game,
        "seed": seed,
    }
    (folder / "result.json").write_text(json.dumps(result))


def test_summary_has_overall_game_and_task_rows(tmp_path: Path) -> None:
    run = tmp_path / "multi"
    (run / "episodes").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"model": {"spec": "scripted"}}))
    fake_episode(run, "crafter", "crafter", 1, 0.2)
    fake_episode(run, "crafter", "crafter", 2, 0.4)
    fake_episode(run, "minihack/Quest-Easy", "minihack", 1, 0.5)
    fake_episode(run, "minihack/Corridor", "minihack", 1, 1.0)
    text, info = render_report([run], trajectories=False)
    rows = re.findall(r'<tr class="row-(\w+)" data-key="([^"]+)">', text)
    assert rows == [
        ("overall", "overall"),
        ("game", "crafter"),
        ("game", "minihack"),
        ("task", "minihack/Corridor"),
        ("task", "minihack/Quest-Easy"),
    ]
    overall = re.search(r'data-key="overall">(.*?)</tr>', text, re.S)
    assert overall and "52.5 ± " in overall.group(1)  # mean of the games (30 and 75)
    assert len(info.warnings) == 4  # no traces: listed, not fatal
    assert 'id="total-cost">$2.00<' in text
