"""Run directories on real Crafter with the scripted model: layout, rebuild, rerun, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from automem.memory import rebuild
from automem.runs import Budget, RunConfig, RunDirError, run
from automem.traces import EndRecord, Header, StepRecord, Trace

CONFIG = RunConfig(
    env="crafter", model="scripted", scaffold="crafter-v0", seeds=(42, 43), max_steps=40
)


def memory_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "demo"
    result = run(CONFIG, out, workers=2)
    assert result.ran == 2 and result.skipped == 0
    return out


def test_run_directory_records_config_versions_and_model(finished_run: Path) -> None:
    meta = json.loads((finished_run / "run.json").read_text())
    assert meta["config"]["tasks"][0]["seeds"] == [42, 43]
    assert meta["config"]["tasks"][0]["env"] == "crafter"
    assert meta["versions"]["crafter"] == "1.8.3" and "python" in meta["versions"]
    assert meta["model"]["backend"] == "scripted"
    assert set(meta["scaffolds"]) == {"crafter-v0"}
    assert (
        (finished_run / "scaffolds" / "crafter-v0.yaml").read_text().startswith("schema_version: 1")
    )
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["episodes"] == 2
    assert set(summary["tasks"]) == {"crafter"} and set(summary["games"]) == {"crafter"}
    assert summary["overall"]["model_calls"] > 80
    behaviour = summary["overall"]["behaviour"]
    assert set(behaviour) >= {"unproductive_rate", "redundant_write_rate", "empty_search_rate"}
    assert behaviour["input_tokens_per_step"] > 0
    episode = summary["per_episode"][0]["behaviour"]
    assert episode["steps"] == 40 and episode["writes"] >= episode["redundant_writes"]


def test_every_episode_trace_is_complete_and_memory_rebuilds_byte_for_byte(
    finished_run: Path,
) -> None:
    episodes = sorted((finished_run / "episodes").glob("crafter__seed*"))
    assert [e.name for e in episodes] == ["crafter__seed42", "crafter__seed43"]
    for folder in episodes:
        trace = Trace.read(folder / "trace.jsonl")
        assert isinstance(trace.header, Header) and trace.header.seed in (42, 43)
        assert isinstance(trace.end, EndRecord) and trace.end.status == "finished"
        steps = trace.of_type(StepRecord)
        assert [s.step for s in steps] == list(range(40))
        journal = trace.journal()
        assert any(r.op == "APPEND" and r.ok for r in journal)
        rebuilt = rebuild(journal, trace.header.initial_files, limits=trace.header.limits)
        on_disk = memory_files(folder / "memory")
        assert {k: v.encode() for k, v in rebuilt.items()} == on_disk
        # ... and at an intermediate step, the journal prefix gives a consistent state.
        early = rebuild(journal, trace.header.initial_files, step=10, limits=trace.header.limits)
        assert set(early) <= set(rebuilt)


def test_rerunning_a_finished_run_does_nothing(finished_run: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in finished_run.rglob("trace.jsonl")}
    result = run(CONFIG, finished_run, workers=2)
    assert result.ran == 0 and result.skipped == 2
    assert {p: p.stat().st_mtime_ns for p in finished_run.rglob("trace.jsonl")} == before


def test_a_different_config_in_the_same_directory_is_refused(finished_run: Path) -> None:
    other = RunConfig(
        env="crafter", model="scripted", scaffold="crafter-v0", seeds=(42, 43), max_steps=41
    )
    with pytest.raises(RunDirError, match=r"different config \(tasks: .*'max_steps': 40.* ->"):
        run(other, finished_run)


def test_a_non_run_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="not empty"):
        run(CONFIG, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_resume_after_kill_minus_nine_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "automem.cli",
        "run",
        "--model",
        "scripted",
        "--env",
        "crafter",
        "--seeds",
        "1-4",
        "--max-steps",
        "400",
        "--workers",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    finished: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        finished = list((out / "episodes").glob("*/result.json")) if out.exists() else []
        started = list((out / "episodes" / ".partial").glob("*/trace.jsonl")) if finished else []
        if any(p.stat().st_size > 10_000 for p in started):
            break  # one episode finished and another well under way: kill now
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed; make it longer"
    assert finished, "no episode finished within the deadline"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # workers die with their parent (PR_SET_PDEATHSIG)
    kept = {
        p.parent.name: p.parent.joinpath("trace.jsonl").read_bytes()
        for p in (out / "episodes").glob("*/result.json")
    }
    assert 1 <= len(kept) < 4
    partial = list((out / "episodes" / ".partial").iterdir())
    assert partial, "an episode should have been in progress when the run was killed"

    subprocess.run(
        cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300
    )
    results = sorted((out / "episodes").glob("*/result.json"))
    assert [p.parent.name for p in results] == [f"crafter__seed{s}" for s in range(1, 5)]
    for name, trace_bytes in kept.items():  # finished work is untouched
        assert (out / "episodes" / name / "trace.jsonl").read_bytes() == trace_bytes
    assert not list((out / "episodes" / ".partial").iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 4
    assert [e["seed"] for e in summary["per_episode"]] == [1, 2, 3, 4]
    for path in results:
        trace = Trace.read(path.parent / "trace.jsonl")
        assert trace.end is not None and trace.end.status == "finished"
        assert trace.end.steps == 400 or trace.end.reason == "terminated"
        assert [s.step for s in trace.steps] == list(range(trace.end.steps))  # no step twice


def test_thread_executor_gives_the_same_episodes_as_processes(
    finished_run: Path, tmp_path: Path
) -> None:
    result = run(CONFIG, tmp_path / "threads", workers=2, executor="thread")
    assert result.ran == 2
    for name in ("crafter__seed42", "crafter__seed43"):
        by_process = Trace.read(finished_run / "episodes" / name / "trace.jsonl")
        by_thread = Trace.read(tmp_path / "threads" / "episodes" / name / "trace.jsonl")
        assert [s.model_dump() for s in by_thread.steps] == [
            s.model_dump() for s in by_process.steps
        ]
        assert memory_files(finished_run / "episodes" / name / "memory") == memory_files(
            tmp_path / "threads" / "episodes" / name / "memory"
        )


@pytest.mark.parametrize("executor", ["thread", "local"])
def test_a_token_budget_stops_the_run_and_its_stopped_episodes_are_not_results(
    tmp_path: Path, executor: str
) -> None:
    config = RunConfig(env="crafter", model="scripted", seeds=(1, 2, 3, 4), max_steps=400)
    result = run(
        config, tmp_path / "b", workers=2, executor=executor, budget=Budget(max_tokens=60_000)
    )
    assert result.budget_note is not None and "token budget exhausted" in result.budget_note
    assert result.not_started >= 1 and result.ran + result.not_started == 4
    stopped = result.summary.unfinished
    assert stopped and all(e.reason.startswith("budget: token budget") for e in stopped)
    assert not result.complete
    assert all(e.status == "finished" for e in result.summary.per_episode)
    assert result.summary.episodes == len(result.summary.per_episode) == result.finished_now
    # The stopped episodes' work is kept apart, with complete traces, and is not a result.
    for episode in stopped:
        folder = tmp_path / "b" / "episodes" / ".stopped" / episode.episode_id
        trace = Trace.read(folder / "trace.jsonl")
        assert trace.end is not None and trace.end.status == "stopped"
        assert trace.end.steps == episode.steps
        assert not (tmp_path / "b" / "episodes" / episode.episode_id).exists()
