"""Thread sizing: affinity, cgroup v1/v2 quotas read from files, shares among workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from automem.models import threads
from automem.models.local import LocalModel
from automem.models.threads import (
    USER_WAIT_SETTINGS,
    WORKERS_ENV,
    cgroup_cpu_quota,
    generation_threads,
    model_threads,
    openmp_settings,
    runnable_tasks,
    usable_cpus,
    worker_environment,
)


def cgroup_v2(tmp_path: Path, limits: dict[str, str], path: str = "/user.slice/job") -> Path:
    """A fake /proc/self/cgroup naming ``path`` and a cgroup tree with ``cpu.max`` files."""
    root = tmp_path / "cgroup"
    for directory, text in limits.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / "cpu.max").write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{path}\n")
    return proc


def test_v2_quota_is_the_tightest_along_the_path(tmp_path: Path) -> None:
    proc = cgroup_v2(
        tmp_path,
        {"": "max 100000", "user.slice": "300000 100000", "user.slice/job": "150000 100000"},
    )
    assert cgroup_cpu_quota(proc, tmp_path / "cgroup") == 1.5
    assert usable_cpus(proc, tmp_path / "cgroup") == 1  # 1.5 CPUs of time keep one busy


def test_v2_unlimited_and_missing_files_mean_no_quota(tmp_path: Path) -> None:
    proc = cgroup_v2(tmp_path, {"user.slice/job": "max 100000"})
    assert cgroup_cpu_quota(proc, tmp_path / "cgroup") is None
    assert cgroup_cpu_quota(tmp_path / "no-such-file", tmp_path / "cgroup") is None


def test_v1_quota_under_the_cpu_controller(tmp_path: Path) -> None:
    job = tmp_path / "cgroup" / "cpu,cpuacct" / "docker" / "abc"
    job.mkdir(parents=True)
    (job / "cpu.cfs_quota_us").write_text("400000\n")
    (job / "cpu.cfs_period_us").write_text("100000\n")
    unlimited = tmp_path / "cgroup" / "cpu,cpuacct"
    (unlimited / "cpu.cfs_quota_us").write_text("-1\n")
    (unlimited / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
    assert cgroup_cpu_quota(proc, tmp_path / "cgroup") == 4.0


def test_the_quota_caps_the_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 8)
    root = tmp_path / "cgroup"
    assert usable_cpus(cgroup_v2(tmp_path, {"user.slice/job": "250000 100000"}), root) == 2
    assert usable_cpus(cgroup_v2(tmp_path, {"user.slice/job": "50000 100000"}), root) == 1
    assert usable_cpus(cgroup_v2(tmp_path, {"user.slice/job": "max 100000"}), root) == 8


def test_workers_split_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert model_threads(cpus=8, workers=1) == 8
    assert model_threads(cpus=8, workers=3) == 2
    assert model_threads(cpus=2, workers=4) == 1  # never zero
    monkeypatch.setenv(WORKERS_ENV, "2")
    assert model_threads(cpus=8) == 4


@pytest.mark.parametrize("raw", ["0", "two", ""])
def test_a_bad_workers_setting_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(WORKERS_ENV, raw)
    with pytest.raises(ValueError, match=WORKERS_ENV):
        model_threads(cpus=4)


def test_worker_environment_names_the_workers_and_bounds_the_spin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in USER_WAIT_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    assert worker_environment(3) == {WORKERS_ENV: "3", "GOMP_SPINCOUNT": "1000"}


@pytest.mark.parametrize("chosen", [{"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": "0"}])
def test_a_users_wait_setting_is_kept(chosen: dict[str, str]) -> None:
    # GOMP_SPINCOUNT would override a chosen policy, so none is added beside either.
    assert openmp_settings(chosen) == {}


def test_making_a_local_model_bounds_the_spin_unless_the_user_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    for key in USER_WAIT_SETTINGS:
        monkeypatch.setenv(key, "")  # so that the teardown restores what was there
        monkeypatch.delenv(key)
    LocalModel(path)
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    LocalModel(path)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert "GOMP_SPINCOUNT" not in os.environ


def test_the_local_model_takes_its_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")  # never loaded: the settings are fixed when the model is made
    monkeypatch.setattr(threads, "usable_cpus", lambda: 6)
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert LocalModel(path).settings.n_threads == 2
    assert LocalModel(path, n_threads=5).settings.n_threads == 5


def test_runnable_tasks_are_read_from_loadavg(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("2.10 1.05 0.80 3/412 9876\n")
    assert runnable_tasks(loadavg) == 3
    loadavg.write_text("garbled\n")
    assert runnable_tasks(loadavg) is None
    assert runnable_tasks(tmp_path / "missing") is None
    assert runnable_tasks() is not None  # this machine's kernel says (Linux, as CI)


@pytest.mark.parametrize(
    ("threads", "cpus", "online", "running", "expected"),
    [
        (2, 2, 2, 1, 2),  # only the caller runs: every thread
        (2, 2, 2, 2, 1),  # one other task holds a core
        (2, 2, 2, 5, 1),  # more tasks than cores: still one thread
        (4, 4, 16, 9, 2),  # 8 others over 16 CPUs: 2 of our 4 are taken
        (1, 8, 8, 1, 1),  # never more than the worker's share
        (2, 2, 2, None, 2),  # the kernel did not say: the share as it is
    ],
)
def test_generation_uses_the_cores_no_other_task_holds(
    threads: int, cpus: int, online: int, running: int | None, expected: int
) -> None:
    assert generation_threads(threads, cpus, online, running) == expected
