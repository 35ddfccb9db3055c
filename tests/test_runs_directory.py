"""Run directories that were damaged or edited: resumable where possible, else a one-line error
naming the file and the fix, and never a traceback."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs import RunConfig, RunDir, RunDirError, run

runner = CliRunner()
ARGS = ["run", "--model", "scripted", "--seeds", "42-43", "--max-steps", "5"]
CONFIG = RunConfig(env="crafter", model="scripted", seeds=(42, 43), max_steps=5)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("made") / "run"
    run(CONFIG, out)
    assert len(list((out / "episodes").glob("*/result.json"))) == 2
    return out


@pytest.fixture
def copy(made: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(made, out)
    return out


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


# ---------------------------------------------------------------- missing or foreign result.json


def test_a_deleted_result_makes_the_episode_incomplete_and_a_rerun_replaces_it(copy: Path) -> None:
    (copy / "episodes" / "crafter__seed43" / "result.json").unlink()
    (copy / "episodes" / "crafter__seed43" / "stale.txt").write_text("from the first attempt")
    code, output = cli(*ARGS, "--out", str(copy))
    assert code == 0, output
    assert "crafter__seed43 has no result.json" in output and "Ran 1 episode(s)" in output
    assert not (copy / "episodes" / "crafter__seed43" / "stale.txt").exists()
    assert sorted(RunDir(copy).finished()) == ["crafter__seed42", "crafter__seed43"]


def test_a_foreign_result_is_named_and_the_rerun_replaces_it(copy: Path) -> None:
    episodes = copy / "episodes"
    shutil.copy(episodes / "crafter__seed42" / "result.json", episodes / "crafter__seed43")
    code, output = cli("summary", str(copy))
    assert code == 2 and "crafter__seed43/result.json" in one_line_error(output)
    assert "does not match its folder 'crafter__seed43'" in output
    code, output = cli(*ARGS, "--out", str(copy))
    assert code == 0, output
    assert "not counted:" in output and "Ran 1 episode(s) (1 finished)" in output
    result = json.loads((episodes / "crafter__seed43" / "result.json").read_text())
    assert result["episode_id"] == "crafter__seed43" and result["seed"] == 43


# ---------------------------------------------------------------- result.json is checked


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("progression", 7.5, "progression: Input should be less than or equal to 1"),
        ("progression", -0.5, "progression: Input should be greater than or equal to 0"),
        ("seed", 44, "seed 44 is not an episode of this run's config"),
        ("env_id", "minihack/MiniHack-Room-5x5-v0", "is not an episode of this run's config"),
    ],
)
def test_an_implausible_result_is_refused_naming_the_file(
    copy: Path, field: str, value: object, message: str
) -> None:
    path = copy / "episodes" / "crafter__seed42" / "result.json"
    result = json.loads(path.read_text())
    result[field] = value
    path.write_text(json.dumps(result))
    code, output = cli("summary", str(copy))
    line = one_line_error(output)
    assert code == 2 and str(path) in line.replace("\n", "") and message in output
    with pytest.raises(RunDirError, match=message):
        RunDir(copy).finished()
    code, output = cli("compare", str(copy), str(copy), "--resamples", "200")
    assert code == 2 and message in output


def test_a_truncated_result_is_named_by_summary(copy: Path) -> None:
    path = copy / "episodes" / "crafter__seed42" / "result.json"
    path.write_text(path.read_text()[:100])
    code, output = cli("summary", str(copy))
    assert code == 2 and "crafter__seed42/result.json: not a valid episode result" in output


def test_summary_of_a_missing_folder_says_not_found(tmp_path: Path) -> None:
    code, output = cli("summary", str(tmp_path / "nope"))
    assert code == 2 and "nope: run directory not found" in output


# ---------------------------------------------------------------- damaged run directories


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("run.json:list", "run.json: a JSON object expected, found a list"),
        ("run.json:config-string", "run.json: 'config' must be an object, found a string"),
        ("run.json:truncated", "run.json is not valid JSON"),
        ("episodes/.partial:file", ".partial is a file where the run keeps a folder"),
        ("episodes:file", "episodes is a file where the run keeps a folder"),
    ],
)
def test_a_damaged_run_is_refused_with_a_line_naming_the_file_and_nothing_changes(
    copy: Path, damage: str, message: str
) -> None:
    target, kind = damage.split(":")
    path = copy / target
    if target == "run.json":
        meta = json.loads(path.read_text())
        text = {
            "list": json.dumps([meta]),
            "config-string": json.dumps({**meta, "config": "crafter"}),
            "truncated": path.read_text()[:50],
        }[kind]
        path.write_text(text)
    else:
        shutil.rmtree(path)
        path.write_text("not a folder")
    before = snapshot(copy)
    code, output = cli(*ARGS, "--out", str(copy))
    assert code == 2 and message in one_line_error(output)
    assert snapshot(copy) == before


def test_an_out_dir_that_is_a_file_or_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("keep me")
    code, output = cli(*ARGS, "--out", str(tmp_path / "file"))
    assert code == 2 and "file is a file, not a folder" in one_line_error(output)
    code, output = cli(*ARGS, "--out", str(tmp_path / "file" / "run"))
    assert code == 2 and "cannot create the run directory" in one_line_error(output)
    assert "Not a directory" in output
    assert (tmp_path / "file").read_text() == "keep me"


def test_a_full_disk_is_reported_with_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automem.traces.io import TraceWriter

    def full(self: TraceWriter, record: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(TraceWriter, "write", full)
    code, output = cli(*ARGS, "--out", str(tmp_path / "full"))
    line = one_line_error(output).replace("\n", "")
    assert code == 2 and "No space left on device" in line and "trace.jsonl" in line
    assert "rerun the same command to resume" in output
    assert not list((tmp_path / "full" / "episodes" / ".partial").iterdir())


def test_a_full_disk_when_writing_a_summary_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith("summary.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    code, output = cli(*ARGS, "--out", str(tmp_path / "full"))
    line = one_line_error(output).replace("\n", "")
    assert code == 2 and "summary.json: No space left on device" in line
    monkeypatch.setattr(os, "replace", real)
    code, output = cli(*ARGS, "--out", str(tmp_path / "full"))
    assert code == 0 and "Ran 1 episode(s)" in output  # the first episode was kept


# ---------------------------------------------------------------- the run's own scaffold copy


def test_an_edited_scaffold_copy_is_refused_on_resume_and_nothing_changes(copy: Path) -> None:
    shutil.rmtree(copy / "episodes" / "crafter__seed43")  # something is left to do
    path = copy / "scaffolds" / "crafter-v0.yaml"
    path.write_text(path.read_text().replace("plan_turn_cap: 10", "plan_turn_cap: 3"))
    before = snapshot(copy)
    code, output = cli(*ARGS, "--out", str(copy))
    line = one_line_error(output).replace("\n", "")
    assert code == 2 and "crafter-v0.yaml was changed after the run started" in line
    assert snapshot(copy) == before


# ---------------------------------------------------------------- attempts


def test_each_attempt_is_recorded_and_the_first_is_kept(copy: Path) -> None:
    first = json.loads((copy / "run.json").read_text())
    [attempt] = first["attempts"]
    assert attempt["started_at"] == first["created_at"] and attempt["versions"] == first["versions"]
    assert attempt["python"] and attempt["model"]["backend"] == "scripted"
    code, output = cli(*ARGS, "--out", str(copy))
    assert code == 0 and "Nothing to do" in output
    second = json.loads((copy / "run.json").read_text())
    assert second["created_at"] == first["created_at"] and second["command"] == first["command"]
    assert second["versions"] == first["versions"]
    assert len(second["attempts"]) == 2 and second["attempts"][0] == attempt
    assert second["attempts"][1]["started_at"] >= attempt["started_at"]
    assert set(second["attempts"][1]) == {"started_at", "command", "python", "versions", "model"}


# ---------------------------------------------------------------- readers count results only


def test_summary_compare_and_report_count_no_stopped_episode(copy: Path, made: Path) -> None:
    """An older run kept a stopped episode's result.json among the results: it is not one."""
    from automem.report import build_report
    from automem.runs.compare import compare_runs

    path = copy / "episodes" / "crafter__seed43" / "result.json"
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "status": "stopped", "reason": "budget: spent"}))
    code, output = cli("summary", str(copy))
    assert code == 0 and "│ crafter      │ 1 │" in output
    assert "crafter__seed43" in output and "budget: spent" in output
    comparison = compare_runs(made, copy, resamples=200)
    assert [t.pairs for t in comparison.tasks] == [1] and comparison.only_in_a == [
        "crafter__seed43"
    ]
    info = build_report([copy], copy.parent / "report.html", trajectories=False)
    assert info.episodes == 1
    code, output = cli(*ARGS, "--out", str(copy))  # and the rerun retries it
    assert code == 0 and "Ran 1 episode(s) (1 finished), 1 already finished" in output
