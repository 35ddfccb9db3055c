"""kill -9 of an optimisation during a review session or a gate evaluation, then the same
call again: nothing finished is lost or redone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from automem.optimize.lineage import read_lineage
from automem.optimize.search import optimize
from tests.optimize.reviewers import PlanReviewer
from tests.optimize.support import config, read, result_stamps

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import ast
import sys
from pathlib import Path
from automem.optimize.search import optimize
from tests.optimize import reviewers
from tests.optimize.support import config
reviewer = getattr(reviewers, sys.argv[3])()
optimize(config(**ast.literal_eval(sys.argv[2])), Path(sys.argv[1]), reviewer)
"""
SLOW = {"versions": 1, "screen_size": 0, "model": "marker:delay=0.1"}  # ~1 s an episode


def kill_when(
    out: Path, settings: dict[str, object], reviewer: str, ready: Callable[[], bool]
) -> None:
    """Run the optimiser in a subprocess and SIGKILL it as soon as ``ready()``."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), repr(settings), reviewer],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while not ready():
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the moment to kill never came"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.slow
def test_kill_9_during_a_review_session_keeps_its_transcript_and_reruns_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "o"
    transcript = out / "attempts/v1-a1/transcript.jsonl"
    kill_when(out, {"versions": 1}, "SleepyReviewer", transcript.exists)
    before = result_stamps(out)
    assert len(before) == 8  # the baseline's four episodes
    reviewer = PlanReviewer()
    result = optimize(config(versions=1), out, reviewer)
    assert result.status == "finished" and reviewer.sessions == ["v1-a1"]
    kept = (out / "attempts/v1-a1/.interrupted-1/transcript.jsonl").read_text()
    assert '"action": "sleep"' in kept and '"action": "sleep"' not in transcript.read_text()
    after = result_stamps(out)
    assert {k: after[k] for k in before} == before


@pytest.mark.slow
def test_kill_9_during_a_gate_loses_and_redoes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "o"
    gate = out / "attempts/v1-a1/runs/gate/episodes"
    kill_when(out, SLOW, "PlanReviewer", lambda: bool(list(gate.glob("*/result.json"))))
    finished = list(gate.glob("*/result.json"))
    assert len(finished) == 1, "the gate had finished before the kill: nothing was tested"
    assert read_lineage(out / "lineage.json").attempts[0].status == "evaluating"
    before = result_stamps(out)
    assert "attempts/v1-a1/review.json" in before and len(before) == 2 * 5 + 1
    reviewer = PlanReviewer()
    result = optimize(config(**SLOW), out, reviewer)
    assert result.status == "finished" and reviewer.sessions == []  # the review is not redone
    after = result_stamps(out)
    assert {k: after[k] for k in before} == before  # no finished episode was rerun
    assert len(list(gate.glob("*/result.json"))) == 2
    assert [(a.id, a.verdict) for a in result.lineage.attempts] == [("v1-a1", "accepted")]
    # The gate run was resumed (a second attempt in its run.json), not started again.
    assert len(read(out / "attempts/v1-a1/runs/gate/run.json")["attempts"]) == 2
    assert not (out / "attempts/v1-a1/.interrupted-1").exists()
