"""User components registered at run time work in every worker of a run, or fail up front.

Real spawned process-pool workers, a real local Ray instance and real Crafter episodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem import envs
from automem.agent import helpers
from automem.agent.helpers import Helper, register_helper
from automem.cli import app
from automem.envs import registry as env_registry
from automem.models import registry as models
from automem.models.registry import register_backend
from automem.models.threads import WORKERS_ENV, usable_cpus
from automem.runs import RunConfig, run
from automem.runs.plugins import PluginError, load_plugins, module_name
from automem.scaffold import HelperConfig, dump, load
from automem.traces import Trace
from tests.conftest import LineEnv
from tests.plugins_example import PidStamp, pid_backend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test end with it."""
    monkeypatch.setattr(helpers, "_ENTRY_POINTS", dict(helpers._ENTRY_POINTS))
    monkeypatch.setattr(helpers, "_CLASSES", dict(helpers._CLASSES))
    monkeypatch.setattr(models, "_BACKENDS", dict(models._BACKENDS))
    envs.registered()  # the built-ins, before the copy
    monkeypatch.setattr(env_registry, "_REGISTRY", dict(env_registry._REGISTRY))


def scaffold_with(folder: Path, helper: str) -> Path:
    """crafter-v0 with one more helper, as a YAML file."""
    base = load("crafter-v0")
    scaffold = base.model_copy(
        update={"name": "crafter-stamped", "helpers": (HelperConfig(name=helper),)}
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "stamped.yaml"
    path.write_text(dump(scaffold), encoding="utf-8")
    return path


def stamps(out: Path) -> list[str]:
    return [p.read_text() for p in sorted(out.glob("episodes/*/memory/stamp"))]


def other_pid(stamp: str) -> bool:
    return int(stamp.split("pid ")[1]) != os.getpid()


def check_ran_in_workers(out: Path, episodes: int) -> None:
    found = stamps(out)
    assert len(found) == episodes and all(other_pid(s) for s in found), found
    for trace_path in sorted(out.glob("episodes/*/trace.jsonl")):
        trace = Trace.read(trace_path)
        assert trace.end is not None and trace.end.status == "finished", trace.end
        assert trace.header.model.backend == "pid"
        assert trace.header.model.details["pid"] != os.getpid()  # the backend ran elsewhere


def test_runtime_registered_components_work_in_process_workers(tmp_path: Path) -> None:
    register_helper("pid_stamp", PidStamp)
    register_backend("pid", pid_backend)
    envs.register("line", LineEnv, length=3)
    scaffold = str(scaffold_with(tmp_path, "pid_stamp"))
    task = {"seeds": [1], "max_steps": 3, "scaffold": scaffold}
    config = RunConfig(model="pid", tasks=[{"env": "crafter", **task}, {"env": "line", **task}])
    result = run(config, tmp_path / "out", workers=2)
    assert result.ran == 2
    check_ran_in_workers(tmp_path / "out", 2)
    line = Trace.read(tmp_path / "out" / "episodes" / "line__seed1" / "trace.jsonl")
    assert line.header.env_id == "line" and "of 3." in line.observations[0].text
    recorded = json.loads((tmp_path / "out" / "run.json").read_text())["config"]["components"]
    assert [(c["kind"], c["name"], c["ref"], c["kwargs"]) for c in recorded] == [
        ("helper", "pid_stamp", "tests.plugins_example:PidStamp", {}),
        ("backend", "pid", "tests.plugins_example:pid_backend", {}),
        ("env", "line", "tests.conftest:LineEnv", {"length": 3}),
    ]
    again = run(config, tmp_path / "out", workers=2)  # the same registrations resume the run
    assert again.ran == 0 and again.skipped == 2


def test_process_workers_split_the_cores_and_bound_the_openmp_spin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.setenv(key, "")  # so that the teardown restores what was there
        monkeypatch.delenv(key)
    register_backend("pid", pid_backend)
    envs.register("line", LineEnv, length=2)
    scaffold = tmp_path / "v0.yaml"
    scaffold.write_text(dump(load("crafter-v0")), encoding="utf-8")
    task = {"env": "line", "seeds": [1, 2], "max_steps": 2, "scaffold": str(scaffold)}
    config = RunConfig(model="pid", tasks=[task])
    assert run(config, tmp_path / "out", workers=2).ran == 2
    for trace_path in sorted((tmp_path / "out").glob("episodes/*/trace.jsonl")):
        details = Trace.read(trace_path).header.model.details
        assert details["pid"] != os.getpid()
        assert details["model_threads"] == max(1, usable_cpus() // 2)
        assert details["gomp_spincount"] == "1000" and details["omp_wait_policy"] is None


@pytest.mark.slow
def test_runtime_registered_helper_and_backend_work_in_ray_tasks(tmp_path: Path) -> None:
    register_helper("pid_stamp", PidStamp)
    register_backend("pid", pid_backend)
    config = RunConfig(
        env="crafter",
        model="pid",
        seeds=(1, 2),
        max_steps=3,
        scaffold=str(scaffold_with(tmp_path, "pid_stamp")),
    )
    result = run(config, tmp_path / "out", workers=2, executor="ray")
    assert result.ran == 2
    check_ran_in_workers(tmp_path / "out", 2)


def test_a_helper_defined_inside_a_function_fails_up_front(tmp_path: Path) -> None:
    class Local(Helper):
        name = "local_helper"

    register_helper("local_helper", Local)
    config = RunConfig(
        env="crafter",
        model="scripted",
        seeds=(1, 2),
        max_steps=3,
        scaffold=str(scaffold_with(tmp_path, "local_helper")),
    )
    with pytest.raises(
        PluginError,
        match=r"helper 'local_helper' .*inside a function.*"
        r"define it in an importable module",
    ):
        run(config, tmp_path / "out", workers=2)
    assert not (tmp_path / "out").exists()  # nothing was started
    assert run(config, tmp_path / "one", workers=1).ran == 2  # one process needs no import


def test_a_helper_defined_in_main_fails_up_front_with_the_fix(tmp_path: Path) -> None:
    scaffold = scaffold_with(tmp_path, "main_helper")
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from automem.agent.helpers import Helper, register_helper
            from automem.runs import RunConfig, run

            class MainHelper(Helper):
                name = "main_helper"

            if __name__ == "__main__":
                register_helper("main_helper", MainHelper)
                config = RunConfig(env="crafter", model="scripted", seeds=(1, 2), max_steps=3,
                                   scaffold={str(scaffold)!r})
                run(config, Path({str(tmp_path / "out")!r}), workers=2)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "automem.runs.plugins.PluginError: helper 'main_helper' (__main__:MainHelper) is defined "
        "in __main__, which worker processes cannot import; define it in an importable module "
        "(or a .py file given with --plugin) and register it from there"
    )
    assert not (tmp_path / "out").exists()


PLUGIN_FILE = '''
import os

from automem.agent.helpers import Helper, register_helper


class FileStamp(Helper):
    """Stamps the process id, from a plugin given as a file path."""

    name = "file_stamp"

    def after_step(self, ctx, result):
        ctx.memory.write_by_code("stamp", f"step {ctx.step} pid {os.getpid()}", step=ctx.step)


register_helper("file_stamp", FileStamp, overwrite=True)
'''


def test_cli_plugin_file_is_loaded_in_every_process_worker(tmp_path: Path) -> None:
    plugin = tmp_path / "attempt" / "stamp_helper.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN_FILE)
    scaffold = scaffold_with(tmp_path, "file_stamp")
    out = tmp_path / "out"
    args = ["run", "--model", "scripted", "--seeds", "1-2", "--max-steps", "3"]
    args += ["--scaffold", str(scaffold), "--workers", "2", "--plugin", str(plugin)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    found = stamps(out)
    assert len(found) == 2 and all(other_pid(s) for s in found), found
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["plugins"] == [str(plugin)]
    assert config["components"][0]["name"] == "file_stamp"


def test_eval_takes_plugin_modules_and_a_missing_one_is_named(tmp_path: Path) -> None:
    plugin = tmp_path / "stamp_helper.py"
    plugin.write_text(PLUGIN_FILE)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: tiny\nversion: 1\ntasks:\n  - env: crafter\n    seeds: [3]\n    max_steps: 2\n"
    )
    args = ["eval", "--suite", str(suite), "--model", "scripted"]
    args += ["--scaffold", str(scaffold_with(tmp_path, "file_stamp"))]
    ok = CliRunner().invoke(app, [*args, "--plugin", str(plugin), "--out", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    assert len(stamps(tmp_path / "a")) == 1
    missing = ["--plugin", "no_such_plugin_module", "--out", str(tmp_path / "b")]
    bad = CliRunner().invoke(app, [*args, *missing])
    assert bad.exit_code == 2
    assert "plugin 'no_such_plugin_module' cannot be imported" in bad.output


def test_a_run_without_plugins_stores_its_config_as_before() -> None:
    # Run directories made before plugins existed must still resume: same run.json config.
    config = RunConfig(env="crafter", model="scripted", seeds=(1,))
    assert set(config.model_dump(mode="json")) == {"model", "tasks", "constrained_output"}
    with_plugin = config.model_copy(update={"plugins": ("tests.plugins_example",)})
    assert with_plugin.model_dump(mode="json")["plugins"] == ["tests.plugins_example"]


def test_a_plugin_file_that_fails_is_named_and_not_half_loaded(tmp_path: Path) -> None:
    bad = tmp_path / "broken_plugin.py"
    bad.write_text("import os\nraise RuntimeError('no GPU here')\n")
    with pytest.raises(PluginError, match=r"broken_plugin.py' failed on import: RuntimeError"):
        load_plugins([str(bad)])
    assert module_name(bad.resolve()) not in sys.modules  # a fixed file loads on the next try
    with pytest.raises(PluginError, match=r"plugin file .*absent.py does not exist"):
        load_plugins([str(tmp_path / "absent.py")])
