"""Running the episodes of a run, in parallel worker processes, resumably."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing as mp
import queue
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from automem import envs
from automem import scaffold as scaffolds
from automem.agent.loop import Episode
from automem.core import ChatModel
from automem.models import load_model
from automem.runs import plugins
from automem.runs.budget import Budget, BudgetMeter
from automem.runs.config import RunConfig, TaskConfig
from automem.runs.directory import RunDir, episode_id
from automem.runs.summary import EpisodeSummary, RunSummary, summarise
from automem.scaffold import Scaffold
from automem.traces.io import Trace, TraceWriter


@dataclass(frozen=True)
class EpisodeTask:
    """One episode to run; small and picklable, so it can cross into a worker process."""

    run_root: Path
    model: str
    task: TaskConfig
    scaffold: str  # the name of the run's copy under scaffolds/
    episode_id: str
    seed: int


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: RunSummary
    ran: int
    skipped: int
    not_started: int = 0
    budget_note: str | None = None


ProgressCallback = Callable[[str, int, int], None]  # (episode id, steps done, step cap)
Executor = Literal["local", "thread", "ray"]


def run(
    config: RunConfig,
    out: Path,
    *,
    workers: int = 1,
    executor: Executor = "local",
    budget: Budget | None = None,
    progress: ProgressCallback | None = None,
    ray_address: str | None = None,
) -> RunResult:
    """Run (or resume) every episode of ``config`` into the run directory ``out``.

    Finished episodes are kept and skipped; an episode that was in progress when an earlier
    run died is rerun from its start. ``executor`` runs episodes in a ``local`` process pool
    (the default: isolation and CPU parallelism), in threads (many episodes waiting on a remote
    model, sharing its connection pool) or Ray tasks (``ray_address`` names a cluster; the
    run directory must then be on storage every node shares). A ``budget`` caps this
    invocation's model spend.
    Returns the summary of all finished episodes.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if executor not in ("local", "thread", "ray"):
        raise ValueError(
            f"executor must be 'local' (a process pool), 'thread' or 'ray', got {executor!r}"
        )
    if executor == "ray" and budget is not None and not budget.unlimited:
        raise ValueError("budgets are not supported with --executor ray yet; use process/thread")
    if executor != "ray" and ray_address is not None:
        raise ValueError("--ray-address needs --executor ray")
    plugins.load_plugins(config.plugins)  # they may register the run's envs, helpers, backend
    for task_config in config.tasks:
        envs.spec(task_config.env)  # an unknown env id fails here, before anything is written
    if missing := envs.missing_by_env(t.env for t in config.tasks):  # so does missing data
        raise ValueError(envs.missing_message(missing))
    loaded, scaffold_of = _load_scaffolds(config)
    spawns = executor == "ray" or (executor == "local" and workers > 1)
    config = plugins.prepare(config, loaded.values(), workers=spawns)
    identity = load_model(config.model, seed=0).identity
    run_dir = RunDir.create_or_resume(out, config, loaded, identity)
    meter = BudgetMeter(budget) if budget is not None and not budget.unlimited else None
    try:
        done = run_dir.finished()
        tasks = [
            EpisodeTask(
                out,
                config.model,
                t,
                scaffold_of[t.env],
                episode_id(t.env, seed),
                seed,
            )
            for t in config.tasks
            for seed in t.seeds
            if episode_id(t.env, seed) not in done
        ]
        for task in tasks:
            if progress:
                progress(task.episode_id, 0, 0)
        ran = 0
        plugin_set = plugins.PluginSet.of(config)
        episodes = (
            _execute_ray(tasks, workers, progress, ray_address, plugin_set)
            if executor == "ray"
            else _execute(tasks, workers, executor, meter, progress, plugin_set)
        )
        for finished in episodes:
            ran += 1
            done[finished.episode_id] = finished
            run_dir.write_summary(list(done.values()))
        run_dir.write_summary(list(done.values()))
        summary = summarise(list(done.values()))
    finally:
        run_dir.unlock()
    return RunResult(
        out,
        summary,
        ran=ran,
        skipped=config.episodes - len(tasks),
        not_started=len(tasks) - ran,
        budget_note=meter.exhausted() if meter else None,
    )


def _load_scaffolds(config: RunConfig) -> tuple[dict[str, Scaffold], dict[str, str]]:
    """Every distinct scaffold of the run by name, and each task's scaffold name (by env).

    Two different scaffolds may not share a name.
    """
    loaded: dict[str, Scaffold] = {}
    names: dict[str, str] = {}
    for task in config.tasks:
        if task.scaffold is None and task.scaffold_ref not in scaffolds.builtin_names():
            raise scaffolds.ScaffoldError(
                f"environment {task.env!r} has no built-in scaffold ({task.scaffold_ref!r}); "
                "give one with --scaffold (a built-in name or a YAML file)"
            )
        scaffold = _with_overrides(scaffolds.load(task.scaffold_ref), config)
        known = loaded.get(scaffold.name)
        if known is not None and known.digest() != scaffold.digest():
            raise ValueError(
                f"two different scaffolds are both named {scaffold.name!r}; rename one"
            )
        loaded[scaffold.name] = scaffold
        names[task.env] = scaffold.name
    return loaded, names


def _with_overrides(scaffold: Scaffold, config: RunConfig) -> Scaffold:
    """The scaffold as this run uses it (the run directory stores exactly this)."""
    if config.constrained_output is None:
        return scaffold
    routine = scaffold.routine.model_copy(update={"constrained_output": config.constrained_output})
    return scaffold.model_copy(update={"routine": routine})


@functools.lru_cache(maxsize=16)
def _load_run_scaffold(path: Path, mtime_ns: int) -> Scaffold:
    """A run's own copy of a scaffold, parsed once per process (episodes in threads share it)."""
    return scaffolds.load(path)


def _execute(
    tasks: list[EpisodeTask],
    workers: int,
    executor: Executor,
    meter: BudgetMeter | None,
    progress: ProgressCallback | None,
    plugin_set: plugins.PluginSet = plugins.PluginSet(),  # noqa: B008 - frozen
) -> Iterator[EpisodeSummary]:
    """Run the tasks, yielding each summary as its episode finishes."""
    if not tasks:
        return
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            if meter is not None and meter.exhausted():
                return
            yield run_episode(task, progress, meter)
        return
    if executor == "thread":
        # A shareable model (an HTTP client) serves every thread, so its connection cap holds.
        model = load_model(tasks[0].model, seed=0)
        shared = model if model.shareable else None
        try:
            with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                futures = [pool.submit(_guarded, task, progress, meter, shared) for task in tasks]
                for future in as_completed(futures):
                    if (summary := future.result()) is not None:
                        yield summary
        finally:
            model.close()
        return
    ctx = mp.get_context("spawn")
    updates: Any = ctx.Queue()
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(updates, meter, plugin_set),
    ) as pool:
        pending: set[Future[EpisodeSummary | None]] = {
            pool.submit(_run_in_worker, t) for t in tasks
        }
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress)
            for future in finished:
                if (summary := future.result()) is not None:
                    yield summary
        _drain(updates, progress)


def _execute_ray(
    tasks: list[EpisodeTask],
    workers: int,
    progress: ProgressCallback | None,
    address: str | None,
    plugin_set: plugins.PluginSet = plugins.PluginSet(),  # noqa: B008 - frozen
) -> Iterator[EpisodeSummary]:
    """Run each episode as a Ray task: on a local Ray instance, or on the cluster at ``address``."""
    if not tasks:
        return
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--executor ray needs the ray package: pip install 'automem[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        local = {"num_cpus": workers} if address is None else {}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
    try:
        remote = ray.remote(num_cpus=1)(_run_ray_task)
        pending = {remote.remote(task, plugin_set): task for task in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                summary = ray.get(ref)
                if progress:
                    progress(task.episode_id, summary.steps, summary.steps)
                yield summary
    finally:
        if started_here:
            ray.shutdown()


def _guarded(
    task: EpisodeTask,
    progress: ProgressCallback | None,
    meter: BudgetMeter | None,
    shared_model: ChatModel | None = None,
) -> EpisodeSummary | None:
    """Run a task unless the budget ran out before it could start."""
    if meter is not None and meter.exhausted():
        return None
    return run_episode(task, progress, meter, shared_model)


def run_episode(
    task: EpisodeTask,
    on_progress: ProgressCallback | None = None,
    meter: BudgetMeter | None = None,
    shared_model: ChatModel | None = None,
) -> EpisodeSummary:
    """Run one episode into the run's .partial area, then move it into place.

    ``shared_model`` is a shareable model used (and left open) instead of a fresh one.
    """
    run_dir = RunDir(task.run_root)
    path = run_dir.scaffold_path(task.scaffold)
    scaffold = _load_run_scaffold(path, path.stat().st_mtime_ns)
    work = run_dir.partial_episode_dir(task.episode_id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = envs.make(task.task.env)
    model = shared_model or load_model(task.model, seed=task.seed)
    cap = min(task.task.max_steps or env.max_steps, env.max_steps)
    with TraceWriter(work / "trace.jsonl") as trace:
        episode = Episode(
            env=env,
            model=model,
            scaffold=scaffold,
            seed=task.seed,
            episode_id=task.episode_id,
            memory_dir=work / "memory",
            trace=trace,
            max_steps=cap,
            on_step=(lambda step: on_progress(task.episode_id, step, cap)) if on_progress else None,
            budget=meter,
        )
        try:
            episode.run()
        finally:
            env.close()
            if shared_model is None:
                model.close()
    summary = EpisodeSummary.from_trace(Trace.read(work / "trace.jsonl"), game=env.game)
    run_dir.finish_episode(summary)
    if on_progress:
        on_progress(task.episode_id, cap, cap)
    return summary


# ---------------------------------------------------------------------- worker processes

_UPDATES: Any = None
_METER: BudgetMeter | None = None
_PLUGINS = plugins.PluginSet()


def _init_worker(updates: Any, meter: BudgetMeter | None, plugin_set: plugins.PluginSet) -> None:
    global _UPDATES, _METER, _PLUGINS
    _UPDATES, _METER, _PLUGINS = updates, meter, plugin_set
    _die_with_parent()


def _run_ray_task(task: EpisodeTask, plugin_set: plugins.PluginSet) -> EpisodeSummary:
    plugins.activate(plugin_set)  # a Ray worker knows only the built-in components
    return run_episode(task)


def _die_with_parent() -> None:
    # After a kill -9 of the main process, an orphaned worker must not finish its episode
    # behind the back of the run that resumes it.
    # Linux only (prctl); elsewhere the run lock still stops two runs sharing a directory.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _run_in_worker(task: EpisodeTask) -> EpisodeSummary | None:
    # Here rather than in the initializer: a failure then reaches the run with its message.
    plugins.activate(_PLUGINS)
    last = [0.0]

    def report(episode: str, step: int, cap: int) -> None:
        now = time.monotonic()
        if step >= cap or now - last[0] > 0.2:
            last[0] = now
            _UPDATES.put((episode, step, cap))

    return _guarded(task, report, _METER)


def _drain(updates: Any, progress: ProgressCallback | None) -> None:
    while True:
        try:
            episode, step, cap = updates.get_nowait()
        except queue.Empty:
            return
        if progress:
            progress(episode, step, cap)
