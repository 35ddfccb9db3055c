"""The report page of an optimisation directory, built from a real (tiny) optimisation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.optimize.review import ReviewContext, ReviewOutcome
from automem.optimize.search import optimize
from automem.report import ReportError, render_report
from tests.optimize.reviewers import PlanReviewer
from tests.optimize.support import config

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


class HostileReviewer(PlanReviewer):
    """Descriptions and analyses a page must show as text, never run."""

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        outcome = super().review(context, attempt_dir)
        return outcome.model_copy(
            update={"description": outcome.description + HOSTILE, "analysis": HOSTILE}
        )


@pytest.fixture(scope="module")
def optimisation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("opt-report") / "opt"
    reviewer = HostileReviewer({"v1-a1": "fail", "v1-a2": "model-error"})
    assert optimize(config(), out, reviewer).status == "finished"
    return out


def test_the_page_shows_versions_on_gate_and_heldout_seeds(optimisation: Path) -> None:
    text, info = render_report([optimisation])
    assert info.episodes == 15 and info.title == "AutoMem optimisation · opt"
    points = re.findall(r'class="point" data-series="([^"]+)" data-x="([^"]+)"', text)
    assert points == [
        ("gate seeds", "v0"),
        ("gate seeds", "v1"),
        ("gate seeds", "v2"),
        ("held-out seeds", "v0"),
        ("held-out seeds", "v1"),
        ("held-out seeds", "v2"),
    ]
    table = text[text.index('id="versions-table"') :]
    for name in ("minihack-v0", "minihack-v1-a2-c1", "minihack-v2-a1"):
        assert name in table
    assert "0.0 ± 0.0 <span class=muted>n=2</span>" in table


def test_every_attempt_with_its_decision_statistic_diff_and_cost(optimisation: Path) -> None:
    text, _ = render_report([optimisation])
    verdicts = re.findall(r'data-attempt="([^"]+)" data-verdict="([^"]+)"', text)
    assert verdicts == [
        ("v1-a1", "failed"),
        ("v1-a2", "invalid"),
        ("v1-a2-c1", "accepted"),
        ("v2-a1", "accepted"),
    ]
    row = text[text.index('data-attempt="v2-a1"') :]
    assert "paired: gain +0.0000, low +0.0000, high +0.0000" in row
    assert "+- name: auto_log\n+  params: {}" in row  # the diff against its parent
    assert "1,100<br>$0.0100" in row  # reviewer tokens and cost
    invalid = text[text.index('data-attempt="v1-a2"') : text.index('data-attempt="v1-a2-c1"')]
    assert "refuses this prompt" in invalid


def test_untrusted_text_is_escaped(optimisation: Path) -> None:
    text, _ = render_report([optimisation])
    assert HOSTILE not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert text.count("<script") == 1  # the page's own (empty) data block only


def test_code_versions_are_marked(optimisation: Path, tmp_path: Path) -> None:
    copy = tmp_path / "opt"
    shutil.copytree(optimisation, copy)
    lineage = json.loads((copy / "lineage.json").read_text())
    lineage["versions"][1]["plugins"] = ["attempts/v1-a2-c1/helper.py"]
    (copy / "lineage.json").write_text(json.dumps(lineage))
    text, _ = render_report([copy])
    rows = re.findall(r"<tr><th scope=row>(v\d)</th>(.*?)</tr>", text)
    assert [("code</span>" in cells) for _, cells in rows] == [False, True, False]


def test_automem_report_recognises_an_optimisation(optimisation: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(optimisation), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert 'id="attempts-table"' in out.read_text()


def test_a_damaged_lineage_is_named(optimisation: Path, tmp_path: Path) -> None:
    copy = tmp_path / "opt"
    shutil.copytree(optimisation, copy)
    (copy / "lineage.json").write_text('{"schema_version": 7}')
    with pytest.raises(ReportError, match=r"lineage\.json: not a valid lineage"):
        render_report([copy])


def test_an_optimisation_is_reported_alone(optimisation: Path) -> None:
    with pytest.raises(ReportError, match="an optimisation directory gets a report of its own"):
        render_report([optimisation, optimisation / "baseline/runs/gate"])
    # Its evaluation runs are ordinary run directories, with the trajectory viewer.
    text, info = render_report([optimisation / "attempts/v2-a1/runs/gate"])
    assert info.episodes == 2 and 'id="viewer"' in text
