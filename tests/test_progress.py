"""The progress of a run as a user sees it: bars on a terminal, log lines elsewhere."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from automem.cli import app
from tests.conftest import finished_episode

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_on_a_terminal_the_bar_ends_at_the_steps_actually_played(tmp_path: Path) -> None:
    out = tmp_path / "run"
    main, child = pty.openpty()
    cmd = [sys.executable, "-m", "automem.cli", "run", "--model", "scripted"]
    proc = subprocess.Popen(
        [*cmd, "--seeds", "1", "--max-steps", "2000", "--out", str(out)],
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(child)
    text = read_all(main)
    os.close(main)
    assert proc.wait(timeout=300) == 0, text
    [episode] = json.loads((out / "summary.json").read_text())["per_episode"]
    assert episode["reason"] == "terminated" and episode["steps"] < 2000
    bars = re.findall(r"crafter__seed1 .*? (\d+)/(\d+)", text)
    assert bars and bars[-1] == (str(episode["steps"]), str(episode["steps"])), text[-2000:]
    assert "2000/2000" not in text


def test_a_stopped_episode_does_not_look_complete_on_the_bar() -> None:
    from automem.progress import RunProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    display = RunProgress(console)
    stopped = finished_episode("crafter", "crafter", 7, 0.1, steps=12).model_copy(
        update={"episode_id": "crafter__seed7", "status": "stopped", "reason": "budget: x"}
    )
    with display:
        display.step("crafter__seed7", 0, 0)
        display.step("crafter__seed7", 12, 2000)
        display.end(stopped)
        display.step("crafter__seed7", 2000, 2000)  # a late worker update changes nothing
    [bar] = display.bar.tasks
    assert (bar.completed, bar.total, bar.finished) == (12, 2000, False)
    assert bar.description == "crafter__seed7 (stopped)"


def test_off_a_terminal_each_episode_end_is_a_log_line(tmp_path: Path) -> None:
    args = ["run", "--model", "scripted", "--seeds", "42-43", "--max-steps", "5"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    for seed in (42, 43):
        assert f"crafter__seed{seed}: finished (max_steps) after 5 steps, progression" in (
            result.output
        )
    assert "5/5" not in result.output  # no progress bar in a log


def test_off_a_terminal_long_work_reports_every_interval() -> None:
    from automem.progress import RunProgress

    now = [0.0]
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    display = RunProgress(console, interval=60, clock=lambda: now[0])
    with display:
        display.step("a", 0, 0)
        display.step("b", 0, 0)
        for second, step in ((10, 1), (59, 5), (61, 6), (100, 9), (122, 12)):
            now[0] = second
            display.step("a", step, 100)
        display.end(
            finished_episode("x", "x", 1, 0.5, steps=12).model_copy(update={"episode_id": "a"})
        )
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines == [
        "progress: 0 of 2 episode(s) ended, 1 running, 6 steps played, 0:01:01 elapsed",
        "progress: 0 of 2 episode(s) ended, 1 running, 12 steps played, 0:02:02 elapsed",
        "a: finished (max_steps) after 12 steps, progression 50.00%",
    ]
