"""Episodes whose process or run is cut short: a worker killed with SIGKILL, Ctrl-C, an
episode that cannot start. Nothing leaks, nothing finished is lost, the rest goes on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from automem.envs import registry
from automem.envs.registry import EnvSpec
from automem.models import ScriptedModel
from automem.models import registry as models_registry
from automem.runs import RunConfig, run
from automem.traces import Trace
from tests.conftest import LineEnv

OPENED: Counter[str] = Counter()
CLOSED: Counter[str] = Counter()


class CountingModel(ScriptedModel):
    def close(self) -> None:
        CLOSED["model"] += 1


class CountingEnv(LineEnv):
    env_id = "test/counting-line"

    def close(self) -> None:
        CLOSED["env"] += 1


def counting_model(spec: object, seed: int) -> CountingModel:
    OPENED["model"] += 1
    return CountingModel(seed, spec="counting")


def counting_env() -> CountingEnv:
    OPENED["env"] += 1
    return CountingEnv(length=50)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model backend and an env that count what they open and close (removed afterwards)."""
    spec = EnvSpec("test/counting-line", counting_env, {}, "a corridor that counts closes")
    monkeypatch.setitem(registry._REGISTRY, spec.env_id, spec)
    monkeypatch.setitem(models_registry._BACKENDS, "counting", counting_model)
    OPENED.clear()
    CLOSED.clear()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "automem.cli", "run", "--model", "scripted", *args]


def wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def writer_of(path: Path, parent: int) -> int:
    """The child process of ``parent`` that holds ``path`` open (the episode's worker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for child in map(int, children):
        with contextlib.suppress(OSError):  # a child may end meanwhile
            fds = Path(f"/proc/{child}/fd")
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                return child
    raise AssertionError(f"no worker of {parent} has {path} open")


# ---------------------------------------------------------------- leaks


@pytest.mark.usefixtures("counting")
def test_every_model_and_env_a_run_opens_is_closed(tmp_path: Path) -> None:
    config = RunConfig(
        env="test/counting-line", model="counting", seeds=(1, 2), max_steps=3, scaffold="crafter-v0"
    )
    assert run(config, tmp_path / "r").complete
    assert OPENED["model"] == 3  # one to learn the identity, one per episode
    assert CLOSED == OPENED


@pytest.mark.usefixtures("counting")
def test_an_episode_that_cannot_start_closes_what_it_opened_and_leaves_no_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automem.runs import runner

    def cannot_build(**_: object) -> None:
        raise ValueError("the episode cannot be built")

    monkeypatch.setattr(runner, "Episode", cannot_build)
    config = RunConfig(
        env="test/counting-line", model="counting", seeds=(1,), max_steps=3, scaffold="crafter-v0"
    )
    with pytest.raises(ValueError, match="the episode cannot be built"):
        run(config, tmp_path / "r")
    assert OPENED == {"model": 2, "env": 1} and CLOSED == OPENED
    assert not list((tmp_path / "r" / "episodes" / ".partial").iterdir())


@pytest.mark.usefixtures("counting")
def test_a_scaffold_with_bad_helper_params_is_refused_before_anything_opens(
    tmp_path: Path,
) -> None:
    from automem.scaffold import dump, load
    from automem.scaffold.model import HelperConfig

    helper = HelperConfig(name="stuck_detector", params={"repeat": 1})
    broken = load("crafter-v0").model_copy(update={"helpers": (helper,)})
    path = tmp_path / "broken.yaml"
    path.write_text(dump(broken).replace("name: crafter-v0", "name: broken"))
    config = RunConfig(
        env="test/counting-line", model="counting", seeds=(1,), max_steps=3, scaffold=str(path)
    )
    with pytest.raises(ValueError, match="helper 'stuck_detector': invalid params"):
        run(config, tmp_path / "r")
    assert not OPENED and not (tmp_path / "r").exists()


# ---------------------------------------------------------------- a worker killed with SIGKILL


def test_a_killed_worker_fails_its_episode_and_the_others_finish(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = cli("--seeds", "1-3", "--max-steps", "100", "--workers", "2", "--out", str(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trace = out / "episodes" / ".partial" / "crafter__seed2" / "trace.jsonl"
    wait_for(lambda: trace.exists() and trace.stat().st_size > 20_000)
    os.kill(writer_of(trace, proc.pid), signal.SIGKILL)  # as the out-of-memory killer would
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "BrokenProcessPool" not in stderr
    assert "1 of 3 episode(s) did not finish" in stderr
    assert "crafter__seed2" in stdout and "killed by signal SIGKILL" in stdout
    results = sorted(p.parent.name for p in (out / "episodes").glob("*/result.json"))
    assert results == ["crafter__seed1", "crafter__seed3"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2
    [failed] = summary["not_finished"]["crafter"]
    assert failed["episode_id"] == "crafter__seed2" and failed["status"] == "error"
    assert failed["reason"].startswith("worker process died: killed by signal SIGKILL")
    assert failed["steps"] > 0
    kept = out / "episodes" / ".stopped" / "crafter__seed2"
    assert (kept / "trace.jsonl").stat().st_size > 20_000 and (kept / "memory").is_dir()
    for name in results:  # the episodes the broken pool cut short were run again, whole
        end = Trace.read(out / "episodes" / name / "trace.jsonl").end
        assert end is not None and end.status == "finished"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Ran 1 episode(s) (1 finished), 2 already finished" in again.stdout
    assert not kept.exists()
    assert json.loads((out / "summary.json").read_text())["episodes"] == 3


# ---------------------------------------------------------------- Ctrl-C


def interrupt_and_resume(tmp_path: Path, *options: str) -> None:
    out = tmp_path / "run"
    cmd = cli("--seeds", "1-4", "--max-steps", "100", *options, "--out", str(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    episodes = out / "episodes"

    def one_finished_and_one_under_way() -> bool:
        if not list(episodes.glob("*/result.json")):
            return False
        return any(p.stat().st_size > 10_000 for p in episodes.glob(".partial/*/trace.jsonl"))

    wait_for(one_finished_and_one_under_way)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    kept = {p.parent.name: p.read_bytes() for p in episodes.glob("*/result.json")}
    assert 1 <= len(kept) < 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == len(kept)

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} already finished" in again.stdout
    for name, result in kept.items():
        assert (episodes / name / "result.json").read_bytes() == result
    assert json.loads((out / "summary.json").read_text())["episodes"] == 4


def test_ctrl_c_stops_a_process_pool_run_with_the_resume_hint(tmp_path: Path) -> None:
    interrupt_and_resume(tmp_path, "--workers", "2")


@pytest.mark.slow
@pytest.mark.parametrize(
    "options", [("--workers", "1"), ("--workers", "2", "--executor", "thread")]
)
def test_ctrl_c_stops_a_run_in_one_process_or_threads(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    interrupt_and_resume(tmp_path, *options)
