"""How many threads an embedded model may use: the cores this process really has, shared out
among the workers of a run.

"Really has" is the smaller of the CPUs the process may be scheduled on (its affinity mask, as
``taskset`` or a container's cpuset leaves it) and its cgroup CPU quota (``docker --cpus``,
Kubernetes limits), which throttles a process that runs more threads than the quota allows.
A run with several worker processes sets :data:`WORKERS_ENV` in each, so their models split the
cores instead of each taking all of them (set it yourself when separate runs share a machine).
Within that share, each call generates its tokens only on the cores no other task is running
on at that moment (:func:`generation_threads`), so a busy machine costs it a thread, not a stall.

llama.cpp runs its threads with OpenMP, whose idle threads spin before they sleep. On a machine
shared with other work, a long spin takes the core the thread it waits for needs, and
generation collapses; sleeping at once instead costs every token a wake-up through the kernel.
:func:`quiet_openmp` (called when an embedded model is made) and :func:`worker_environment`
bound the spin to a few microseconds, which keeps both. It must be in the environment before
llama.cpp's libraries are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

WORKERS_ENV = "AUTOMEM_WORKERS"


def affinity_cpus() -> int:
    """CPUs this process may be scheduled on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cgroup_cpu_quota(proc_cgroup: Path, cgroup_root: Path) -> float | None:
    """CPUs' worth of time the process's cgroups allow (the tightest along its path), or None.

    ``proc_cgroup`` is ``/proc/self/cgroup`` and ``cgroup_root`` ``/sys/fs/cgroup``, passed in
    so tests can point them at a temporary directory. cgroup v2 keeps ``cpu.max`` ("max 100000"
    or "<quota> <period>") in every directory of the path; v1 keeps ``cpu.cfs_quota_us`` (-1
    when unlimited) and ``cpu.cfs_period_us`` under its ``cpu`` controller's mount.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy
            limits += _limits_along(cgroup_root, path, _v2_limit)
        elif "cpu" in controllers.split(","):
            limits += _limits_along(cgroup_root / controllers, path, _v1_limit)
    return min(limits) if limits else None


def _limits_along(base: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The limits ``read`` finds in ``base/path`` and each of its parents up to ``base``."""
    found = []
    parts = [p for p in path.split("/") if p]
    for depth in range(len(parts), -1, -1):
        limit = read(base.joinpath(*parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _v2_limit(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_limit(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus(
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """Whole CPUs this process can keep busy: its affinity, capped by its cgroup quota."""
    cpus = affinity_cpus()
    quota = cgroup_cpu_quota(proc_cgroup, cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))  # a fraction of a CPU still runs one thread
    return cpus


def workers_sharing() -> int:
    """How many workers of this run share the machine (:data:`WORKERS_ENV`, default 1)."""
    raw = os.environ.get(WORKERS_ENV, "1")
    try:
        workers = int(raw)
    except ValueError:
        raise ValueError(f"${WORKERS_ENV} must be a whole number of workers, got {raw!r}") from None
    if workers < 1:
        raise ValueError(f"${WORKERS_ENV} must be at least 1, got {workers}")
    return workers


def model_threads(cpus: int | None = None, workers: int | None = None) -> int:
    """Threads for one worker's model: its share of the usable CPUs, at least one."""
    cpus = usable_cpus() if cpus is None else cpus
    workers = workers_sharing() if workers is None else workers
    return max(1, cpus // workers)


def runnable_tasks(loadavg: Path = Path("/proc/loadavg")) -> int | None:
    """Tasks runnable on the machine at this instant, the caller's own thread included, or None
    where the kernel does not say (``/proc/loadavg``'s fourth field is "running/total")."""
    try:
        return int(loadavg.read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def generation_threads(threads: int, cpus: int, online: int, running: int | None) -> int:
    """Threads to generate with now: at most ``threads``, and only on cores no other task holds.

    Generating a token is many short steps, each ending at a barrier that waits for every
    thread, so one thread sharing its core with another task makes all of them wait; a long
    prompt evaluation shares a core well and keeps all ``threads``. Measured on 2 cores with
    one or two busy processes beside it, 1 thread generated 1.5-2x as fast as 2. ``running``
    is :func:`runnable_tasks`: the others (all but the caller) are taken to be spread evenly
    over the ``online`` CPUs, of which this process may use ``cpus``.
    """
    if running is None:
        return threads
    others_here = max(0, running - 1) * cpus / max(online, 1)
    return max(1, min(threads, cpus - int(others_here + 0.5)))


# libgomp's spin before an idle thread sleeps (its default is 300,000 iterations). Measured with
# 2 threads on 2 cores (benchmarks/llama_threads.py, generation tokens/s): idle, 53 under the
# default, 23 with OMP_WAIT_POLICY=PASSIVE (no spin: every token wakes its threads through the
# kernel), 60 with a spin of 1,000, 58 with 10,000; beside 2 busy processes, 12, 36, 26 and 15.
# (At load 10 the default fell to 0.2.) 1,000 loses least in either case.
BOUNDED_SPIN = {"GOMP_SPINCOUNT": "1000"}
# Either of these is the user's own choice of how OpenMP waits; it is left as it is.
USER_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def quiet_openmp() -> None:
    """Bound how long this process's idle OpenMP threads spin, unless the user chose.

    Takes effect only before llama.cpp's libraries are first loaded in the process.
    """
    os.environ.update(openmp_settings(os.environ))


def openmp_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The OpenMP settings to add to ``environ``: none if it already says how threads wait."""
    if any(key in environ for key in USER_WAIT_SETTINGS):
        return {}
    return dict(BOUNDED_SPIN)


def worker_environment(workers: int) -> dict[str, str]:
    """What to set in a worker process's environment before it loads a model."""
    return {WORKERS_ENV: str(workers), **openmp_settings(os.environ)}
