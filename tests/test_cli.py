"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "scaffold", "env", "summary"):
        assert command in result.output


def test_scaffold_commands(tmp_path: Path) -> None:
    shown = runner.invoke(app, ["scaffold", "show", "crafter-v0"])
    assert shown.exit_code == 0 and "name: crafter-v0" in shown.output
    edited = tmp_path / "mine.yaml"
    edited.write_text(shown.output.replace("plan_turn_cap: 10", "plan_turn_cap: 3"))
    ok = runner.invoke(app, ["scaffold", "validate", "crafter-v0", str(edited)])
    assert ok.exit_code == 0, ok.output
    diff = runner.invoke(app, ["scaffold", "diff", "crafter-v0", str(edited)])
    assert "+  plan_turn_cap: 3" in diff.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(shown.output.replace("- DONE", "- NOPE"))
    bad = runner.invoke(app, ["scaffold", "validate", str(broken)])
    assert bad.exit_code == 1 and "unknown ops ['NOPE']" in bad.output


def test_run_with_bad_input_prints_the_fix_without_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--env", "crafterr", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert (
        "unknown environment 'crafterr'" in result.output
        and "Did you mean 'crafter'" in result.output
    )
    assert "Traceback" not in result.output
    bad_seeds = runner.invoke(
        app, ["run", "--model", "scripted", "--seeds", "9-1", "--out", str(tmp_path / "s")]
    )
    assert bad_seeds.exit_code == 2 and "runs backwards" in bad_seeds.output


def test_env_show_prints_observation_and_actions() -> None:
    result = runner.invoke(app, ["env", "show", "crafter", "--seed", "42"])
    assert result.exit_code == 0
    assert "You see" in result.output and "- Make Wood Pickaxe" in result.output


def test_a_scripted_run_as_a_subprocess_then_a_rerun_does_nothing(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "automem.cli",
        "run",
        "--model",
        "scripted",
        "--env",
        "crafter",
        "--episodes",
        "2",
        "--max-steps",
        "20",
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Ran 2 episode(s)" in first.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["overall"]["steps"]["mean"] == 20
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Nothing to do" in again.stdout


def test_report_command_writes_a_self_contained_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(
        app, ["run", "--model", "scripted", "--max-steps", "5", "--out", str(out)]
    )
    assert first.exit_code == 0, first.output
    html = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(out), "-o", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert "crafter__seed42" in text and "http://" not in text.replace("http://www.w3.org", "")
    missing = runner.invoke(app, ["report", str(tmp_path / "nope"), "-o", str(html)])
    assert missing.exit_code == 2 and "nope" in missing.output
    refused = runner.invoke(app, ["view", str(out), "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "loopback" in refused.output


def test_ray_executor_without_ray_fails_before_the_progress_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "eval"
    args = ["eval", "--suite", "crafter", "--model", "scripted", "--executor", "ray"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "error: --executor ray needs the ray package: pip install 'automem[ray]'"
    )
    assert "crafter__seed" not in result.output  # no progress bar was drawn
    assert not out.exists()


def test_run_of_a_task_without_its_data_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMEM_BOXOBAN_LEVELS", str(tmp_path / "no-levels"))
    out = tmp_path / "run"
    args = ["run", "--env", "minihack/MiniHack-Boxoban-Hard-v0", "--model", "scripted"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: minihack/MiniHack-Boxoban-Hard-v0 needs the Boxoban level files"
    )
    assert not out.exists()
