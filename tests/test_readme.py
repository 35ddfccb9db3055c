"""The README's main job, run as written (the real local model, end to end), and its tests line."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_setup", ROOT / "scripts" / "readme_setup.py")
assert _spec is not None and _spec.loader is not None
readme_setup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_setup)
setup_commands = readme_setup.setup_commands  # what .ci/run runs


def test_the_setup_is_two_commands_and_the_second_is_the_test_script() -> None:
    commands = setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[1] == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nbash scripts/test.sh\n" in ci


def test_the_first_command_installs_through_the_project_script_and_ci_runs_it() -> None:
    """The build settings are the project's (scripts/install.sh), and CI runs the command."""
    first = setup_commands()[0]
    assert first.startswith("bash scripts/install.sh && automem run ")
    install = (ROOT / "scripts" / "install.sh").read_text()
    # The build the project's messages name is the one the script makes (x86-64: variants).
    from automem.models.llama_runtime import CPU_VARIANTS_CMAKE_ARGS, PORTABLE_CMAKE_ARGS

    assert f'portable="{PORTABLE_CMAKE_ARGS}"' in install
    assert (
        f'project="$portable {CPU_VARIANTS_CMAKE_ARGS.removeprefix(PORTABLE_CMAKE_ARGS + " ")}"'
        in install
    )
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    extract, run = (
        ci.index("first=$(python scripts/readme_setup.py 1)"),
        ci.index('bash -euo pipefail -c "$first"'),
    )
    assert extract < run < ci.index("bash scripts/test.sh")  # one venv: the compile happens once
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_setup.py"), "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout == first + "\n"


@pytest.mark.slow
def test_the_main_job_runs_as_written(tmp_path: Path) -> None:
    """Installs are done (the test script made them); run the README's automem command."""
    main = setup_commands()[0]
    run = shlex.split(main.split("&&")[-1])
    assert run[0] == "automem" and "--model" not in run  # the embedded default model
    out = tmp_path / "demo"
    run[run.index("--out") + 1] = str(out)
    done = subprocess.run(
        [sys.executable, "-m", "automem.cli", *run[1:]],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["model"]["backend"] == "local" and meta["model"]["name"] == "smollm2-135m"
    summary = json.loads((out / "summary.json").read_text())
    steps = int(run[run.index("--max-steps") + 1])
    episode = summary["per_episode"][0]
    assert episode["status"] == "finished" and episode["steps"] == steps
    assert episode["totals"]["model_errors"] == 0
    # Constrained decoding: every reply parsed, so no turn was wasted on a reply without commands.
    assert episode["behaviour"]["fallbacks"] == 0
