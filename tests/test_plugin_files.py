"""A helper written as a Python file (as a reviewer writes one under ``attempt_dir/code``) and
given as a plugin path works in every worker of a run: in-process, process pool, Ray.

Real spawned workers, a real local Ray instance and real Crafter episodes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automem.agent import helpers
from automem.models import registry as models
from automem.runs import RunConfig, plugins, run
from automem.scaffold import HelperConfig, dump, load
from automem.traces import Trace

HELPER_FILE = '''
import os

from automem.agent.helpers import Helper, register_helper


class AttemptStamp(Helper):
    """Stamps which attempt's code ran, and in which process."""

    name = "attempt_stamp"

    def after_step(self, ctx, result):
        ctx.memory.write_by_code("stamp", f"{TAG} pid {os.getpid()}", step=ctx.step)


TAG = "{tag}"
register_helper("attempt_stamp", AttemptStamp{overwrite})
'''


@pytest.fixture(autouse=True)
def fresh_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test end with it."""
    monkeypatch.setattr(helpers, "_ENTRY_POINTS", dict(helpers._ENTRY_POINTS))
    monkeypatch.setattr(helpers, "_CLASSES", dict(helpers._CLASSES))
    monkeypatch.setattr(plugins, "_FILE_HELPERS", {}, raising=False)


def attempt(folder: Path, tag: str, *, overwrite: bool = False) -> tuple[Path, Path]:
    """An attempt folder with its helper code and a crafter-v0 scaffold that uses it."""
    code = folder / "code" / "stamp_helper.py"
    code.parent.mkdir(parents=True)
    text = HELPER_FILE.replace("{tag}", tag)
    text = text.replace("{overwrite}", ", overwrite=True" if overwrite else "")
    code.write_text(text, encoding="utf-8")
    scaffold = load("crafter-v0").model_copy(
        update={"name": f"crafter-{tag}", "helpers": (HelperConfig(name="attempt_stamp"),)}
    )
    path = folder / "candidate.yaml"
    path.write_text(dump(scaffold), encoding="utf-8")
    return code, path


def config(code: Path, scaffold: Path, seeds: tuple[int, ...] = (1, 2)) -> RunConfig:
    return RunConfig(
        env="crafter",
        model="scripted",
        seeds=seeds,
        max_steps=3,
        scaffold=str(scaffold),
        plugins=(str(code),),
    )


def stamps(out: Path) -> list[tuple[str, int]]:
    found = []
    for path in sorted(out.glob("episodes/*/memory/stamp")):
        tag, _, pid = path.read_text().partition(" pid ")
        found.append((tag, int(pid)))
    return found


def test_a_helper_file_given_as_a_plugin_runs_in_process_pool_workers(tmp_path: Path) -> None:
    code, scaffold = attempt(tmp_path / "v1-a1", "v1")
    result = run(config(code, scaffold), tmp_path / "out", workers=2)
    assert result.ran == 2 and result.complete
    found = stamps(tmp_path / "out")
    assert [tag for tag, _ in found] == ["v1", "v1"]
    assert all(pid != os.getpid() for _, pid in found)


@pytest.mark.slow
def test_a_helper_file_given_as_a_plugin_runs_in_ray_tasks(tmp_path: Path) -> None:
    code, scaffold = attempt(tmp_path / "v1-a1", "v1")
    result = run(config(code, scaffold), tmp_path / "out", workers=2, executor="ray")
    assert result.ran == 2 and result.complete
    found = stamps(tmp_path / "out")
    assert [tag for tag, _ in found] == ["v1", "v1"]
    assert all(pid != os.getpid() for _, pid in found)


@pytest.mark.parametrize(("workers", "overwrite"), [(1, False), (1, True), (2, False)])
def test_attempts_whose_files_define_the_same_helper_each_run_their_own(
    tmp_path: Path, workers: int, overwrite: bool
) -> None:
    # An optimiser evaluates several attempts in one process, and a continuation revises the
    # helper of the attempt it continues under the same name: each run must use its own file
    # (the third run loads the first file again, which is imported already).
    first = attempt(tmp_path / "v1-a1", "first", overwrite=overwrite)
    second = attempt(tmp_path / "v1-a2", "second", overwrite=overwrite)
    for name, (code, scaffold) in (("a", first), ("b", second), ("c", first)):
        result = run(config(code, scaffold, seeds=(1,)), tmp_path / name, workers=workers)
        assert result.complete, name
    assert [tag for tag, _ in stamps(tmp_path / "a")] == ["first"]
    assert [tag for tag, _ in stamps(tmp_path / "b")] == ["second"]
    assert [tag for tag, _ in stamps(tmp_path / "c")] == ["first"]


BACKEND_FILE = """
import os

from automem.core import ModelIdentity
from automem.models.registry import register_backend
from automem.models.scripted import ScriptedModel


def file_backend(spec, seed):
    model = ScriptedModel(seed, slip_rate=0.0, spec=spec.text)
    model.identity = ModelIdentity(
        spec=spec.text, backend=spec.backend, name="file", details={"pid": os.getpid()}
    )
    return model


register_backend("file_model", file_backend)
"""


def test_a_backend_file_given_as_a_plugin_runs_in_process_pool_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "_BACKENDS", dict(models._BACKENDS))
    plugin = tmp_path / "code" / "file_backend.py"
    plugin.parent.mkdir()
    plugin.write_text(BACKEND_FILE, encoding="utf-8")
    config = RunConfig(
        env="crafter", model="file_model", seeds=(1, 2), max_steps=3, plugins=(str(plugin),)
    )
    result = run(config, tmp_path / "out", workers=2)
    assert result.ran == 2 and result.complete
    for trace_path in sorted((tmp_path / "out").glob("episodes/*/trace.jsonl")):
        model = Trace.read(trace_path).header.model
        assert model.backend == "file_model" and model.details["pid"] != os.getpid()


OVERRIDE_FILE = '''
from automem.agent.file_helpers import AutoLog
from automem.agent.helpers import register_helper


class LoudAutoLog(AutoLog):
    """auto_log, as an attempt's code revised it."""


register_helper("auto_log", LoudAutoLog, overwrite=True)
register_helper("{name}", LoudAutoLog, overwrite=True)
'''


def test_plugin_files_may_replace_a_built_in_helper_and_each_others(tmp_path: Path) -> None:
    files = []
    for name in ("one", "two"):
        path = tmp_path / name / "code" / "override.py"
        path.parent.mkdir(parents=True)
        path.write_text(OVERRIDE_FILE.replace("{name}", f"loud_{name}"), encoding="utf-8")
        files.append(str(path))
    plugins.load_plugins([files[0]])
    first = helpers.helper_class("auto_log")
    assert first.__module__ == plugins.module_name(Path(files[0]).resolve())
    plugins.load_plugins([files[1]])  # replaces auto_log again; loud_one stays as it was
    second = helpers.helper_class("auto_log")
    assert second is not first and helpers.helper_class("loud_one") is first
    plugins.load_plugins([files[0]])  # imported already: its registrations are current again
    assert helpers.helper_class("auto_log") is first
    assert helpers.helper_class("loud_two") is second
