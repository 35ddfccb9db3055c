"""--allow-code: a helper written as Python source by the reviewer, loaded in every worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.optimize.search import optimize
from automem.traces import Trace
from tests.optimize.reviewers import PlanReviewer
from tests.optimize.support import config, read


@pytest.mark.slow
def test_a_code_revision_loads_in_every_worker_and_is_marked(tmp_path: Path) -> None:
    out = tmp_path / "o"
    settings = config(versions=1, allow_code=True, workers=2, screen_size=0)
    result = optimize(settings, out, PlanReviewer({"v1-a1": "code"}))
    attempt = result.lineage.attempts[0]
    assert (attempt.verdict, attempt.code_files) == ("accepted", ["count_steps.py"])
    version = result.lineage.versions[1]
    assert version.plugins == ["attempts/v1-a1/count_steps.py"]
    code = str(out / "attempts/v1-a1/count_steps.py")
    for stage in ("gate", "heldout"):
        run = out / "attempts/v1-a1/runs" / stage
        assert code in read(run / "run.json")["config"]["plugins"]
        traces = sorted(run.glob("episodes/*/trace.jsonl"))
        assert len(traces) == 2  # two episodes, each in a spawned worker process
        for path in traces:
            prompts = [m.content for m in Trace.read(path).messages.values()]
            assert any("(count_steps: step" in p for p in prompts)
    assert "| v1 | minihack-v1-a1 | v1-a1 |" in (out / "summary.md").read_text()
    assert "| yes |" in (out / "summary.md").read_text()


def test_without_allow_code_a_candidate_is_data_only(tmp_path: Path) -> None:
    result = optimize(
        config(versions=1, fresh_attempts=1), tmp_path / "o", PlanReviewer({"v1-a1": "code"})
    )
    attempt = result.lineage.attempts[0]
    assert (attempt.verdict, attempt.ended_at_stage) == ("failed", "check")
    assert "a candidate is data only unless the optimisation runs with --allow-code" in (
        attempt.reason
    )
    assert not (tmp_path / "o/attempts/v1-a1/runs").exists()


def test_a_helper_from_another_attempts_code_is_refused(tmp_path: Path) -> None:
    # v1-a1's code is refused (no --allow-code) but was imported by the session; v1-a2 then
    # switches its helper on without carrying the source its workers would need.
    plan = {"v1-a1": "code", "v1-a2": "reuse-code"}
    result = optimize(config(versions=1, continuations=0), tmp_path / "o", PlanReviewer(plan))
    second = result.lineage.attempts[1]
    assert (second.verdict, second.ended_at_stage) == ("failed", "check")
    assert "helper 'count_steps' comes from the code of another attempt" in second.reason
