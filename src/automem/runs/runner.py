"""Running the episodes of a run, in parallel worker processes, resumably."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing as mp
import os
import queue
import shutil
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from automem import envs
from automem import scaffold as scaffolds
from automem.agent.loop import Episode
from automem.core import ModelIdentity, TextEnv, Usage
from automem.models.roles import RoleModels, RoleName, load_roles
from automem.models.threads import worker_environment
from automem.runs import plugins, salvage
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
    """What a call to :func:`run` did, and the run's state after it."""

    run_dir: Path
    summary: RunSummary  # finished episodes counted, the others listed apart
    ran: int  # episodes played by this call, finished or not
    skipped: int  # episodes already finished before this call
    not_started: int = 0  # episodes this call left unplayed (the budget ran out)
    budget_note: str | None = None
    total: int = 0  # episodes in the run's config
    finished_now: int = 0  # episodes this call finished
    problems: tuple[str, ...] = ()  # episode folders without a valid result, not counted

    @property
    def complete(self) -> bool:
        """Every episode of the run is finished (has a result)."""
        return self.summary.episodes == self.total


class WorkerError(RuntimeError):
    """Worker processes fail before they can run any episode."""


ProgressCallback = Callable[[str, int, int], None]  # (episode id, steps done, step cap)
EndCallback = Callable[[EpisodeSummary], None]  # an episode ended, finished or not
Executor = Literal["local", "thread", "ray"]
MAX_POOL_BREAKS = 2  # an episode in flight in more process-pool breaks than this has failed


def run(
    config: RunConfig,
    out: Path,
    *,
    workers: int = 1,
    executor: Executor = "local",
    budget: Budget | None = None,
    progress: ProgressCallback | None = None,
    on_end: EndCallback | None = None,
    ray_address: str | None = None,
) -> RunResult:
    """Run (or resume) every episode of ``config`` into the run directory ``out``.

    Finished episodes are kept and skipped. Every other episode is (re)run from its start:
    one in progress when an earlier run died, one that stopped (model error, budget) or
    failed, one whose folder has no valid result. ``executor`` runs episodes in a ``local``
    process pool (the default: isolation and CPU parallelism; a worker that dies fails its
    episode only), in threads (many episodes waiting on a remote model, sharing its
    connection pool) or Ray tasks (``ray_address`` names a cluster; the run directory must
    then be on storage every node shares). A ``budget`` caps this invocation's model spend.
    ``on_end`` hears of every episode that ends. The summary counts finished episodes only.
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
    run_dir = RunDir.create_or_resume(out, config, loaded, _identities(config.model))
    meter = BudgetMeter(budget) if budget is not None and not budget.unlimited else None
    ran = finished_now = 0
    try:
        state = run_dir.scan(config, strict=False)
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
            if episode_id(t.env, seed) not in state.finished
        ]
        for task in tasks:
            if progress:
                progress(task.episode_id, 0, 0)
        plugin_set = plugins.PluginSet.of(config)
        episodes = (
            _execute_ray(tasks, workers, ray_address, plugin_set)
            if executor == "ray"
            else _execute(tasks, workers, executor, meter, progress, plugin_set)
        )
        with contextlib.closing(episodes):  # an interrupted run stops its workers at once
            for ended in episodes:
                ran += 1
                finished_now += ended.finished
                state.record(ended)
                if on_end:
                    on_end(ended)
                run_dir.write_summary(state.episodes())
        run_dir.write_summary(state.episodes())
    except KeyboardInterrupt:
        # Count what the workers finished before the interrupt reached this process.
        run_dir.write_summary(run_dir.scan(config, strict=False).episodes())
        raise
    finally:
        run_dir.unlock()
    return RunResult(
        out,
        summarise(state.episodes()),
        ran=ran,
        skipped=config.episodes - len(tasks),
        not_started=len(tasks) - ran,
        budget_note=meter.exhausted() if meter else None,
        total=config.episodes,
        finished_now=finished_now,
        problems=tuple(state.problems),
    )


def _identities(spec: str) -> dict[RoleName, ModelIdentity]:
    """The identity of each role's model, which run.json records; the models built to learn
    them are closed again."""
    models = load_roles(spec, seed=0)
    try:
        return models.identities()
    finally:
        models.close()


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
    update: dict[str, object] = {
        k: v for k, v in config.routine.model_dump().items() if v is not None
    }
    if config.constrained_output is not None:
        update["constrained_output"] = config.constrained_output
    if "temperature" in update:
        temperature = update.pop("temperature")
        update["sampling"] = scaffold.routine.sampling.model_copy(
            update={"temperature": temperature}
        )
    if not update:
        return scaffold
    # Validated again, so a floor the scaffold's vocabulary cannot meet is refused here.
    routine = {**scaffold.routine.model_dump(), **update}
    try:
        return Scaffold.model_validate({**scaffold.model_dump(), "routine": routine})
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ValueError(f"scaffold {scaffold.name} with this run's settings: {problems}") from None


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
    """Run the tasks, yielding each summary as its episode ends."""
    if not tasks:
        return
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            if meter is not None and meter.exhausted():
                return
            if (summary := run_episode(task, progress, meter)) is not None:
                yield summary
        return
    if executor == "thread":
        yield from _execute_threads(tasks, workers, meter, progress)
    else:
        yield from _execute_processes(tasks, workers, meter, progress, plugin_set)


class _Interruptible:
    """The budget meter of threaded episodes, which also stops them once the run is interrupted.

    A thread cannot be killed: after Ctrl-C its episode stops at its next model call and is
    discarded like any episode in progress.
    """

    def __init__(self, meter: BudgetMeter | None) -> None:
        self.meter = meter
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def charge(self, usage: Usage) -> None:
        if self.meter is not None:
            self.meter.charge(usage)

    def exhausted(self) -> str | None:
        if self.interrupted:
            return "the run was interrupted"
        return self.meter.exhausted() if self.meter is not None else None


def _execute_threads(
    tasks: list[EpisodeTask],
    workers: int,
    meter: BudgetMeter | None,
    progress: ProgressCallback | None,
) -> Iterator[EpisodeSummary]:
    # Shareable models (HTTP clients) serve every thread, so their connection caps hold.
    model = load_roles(tasks[0].model, seed=0)
    shared = model if all(m.shareable for m in model.by_role().values()) else None
    stop = _Interruptible(meter)
    pool = ThreadPoolExecutor(max_workers=min(workers, len(tasks)))
    try:
        futures = [pool.submit(_guarded, task, progress, stop, shared) for task in tasks]
        for future in as_completed(futures):
            if (summary := future.result()) is not None:
                yield summary
    except BaseException:
        stop.interrupt()  # running episodes stop at their next model call; none starts
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        model.close()


def _execute_processes(
    tasks: list[EpisodeTask],
    workers: int,
    meter: BudgetMeter | None,
    progress: ProgressCallback | None,
    plugin_set: plugins.PluginSet,
) -> Iterator[EpisodeSummary]:
    """Run the tasks in process pools; when a worker dies, fail its episode and go on.

    A dying worker breaks the whole pool (the pool terminates the other workers): the
    episode whose worker died on its own is recorded as failed, the others run again in a
    new pool.
    """
    todo = list(tasks)
    caught: dict[str, int] = defaultdict(int)
    while todo:
        lost, exit_codes = yield from _pool_pass(todo, workers, meter, progress, plugin_set)
        todo = []
        started = False
        for task in lost:
            run_dir = RunDir(task.run_root)
            pid = salvage.take_pid(run_dir, task.episode_id)
            if (done := salvage.finished_meanwhile(run_dir, task.episode_id)) is not None:
                yield done  # it finished just before the pool broke
                continue
            if pid is None:
                todo.append(task)  # it never started
                continue
            started = True
            code = exit_codes.get(pid)
            caught[task.episode_id] += 1
            died = code is not None and code != -signal.SIGTERM  # the pool SIGTERMs the rest
            if died or caught[task.episode_id] > MAX_POOL_BREAKS:
                why = salvage.exit_description(code, MAX_POOL_BREAKS + 1)
                yield salvage.record_died(
                    run_dir, task.episode_id, env_id=task.task.env, seed=task.seed, why=why
                )
            else:
                todo.append(task)
        if lost and not started:
            codes = sorted({c for c in exit_codes.values() if c is not None})
            raise WorkerError(
                f"the worker processes died before starting any episode (exit codes {codes}); "
                "see the errors printed above"
            )


PoolPass = Generator[EpisodeSummary, None, tuple[list[EpisodeTask], dict[int, int | None]]]


def _pool_pass(
    todo: list[EpisodeTask],
    workers: int,
    meter: BudgetMeter | None,
    progress: ProgressCallback | None,
    plugin_set: plugins.PluginSet,
) -> PoolPass:
    """One process pool over ``todo``. Yields the episodes that end; returns the tasks lost
    if the pool broke, with each worker's exit code (by pid)."""
    ctx = mp.get_context("spawn")
    updates: Any = ctx.Queue()
    n_workers = min(workers, len(todo))
    pool = ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(updates, meter, plugin_set, worker_environment(n_workers)),
    )
    # The pool's own {pid: process}, filled as it starts workers: their exit codes tell a
    # worker that died from one the broken pool terminated.
    processes: dict[int, Any] = pool._processes
    lost: list[EpisodeTask] = []
    try:
        pending: dict[Future[EpisodeSummary | None], EpisodeTask] = {
            pool.submit(_run_in_worker, t): t for t in todo
        }
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress)
            for future in finished:
                task = pending.pop(future)
                try:
                    summary = future.result()
                except BrokenProcessPool:
                    lost.append(task)
                    continue
                if summary is not None:
                    yield summary
        _drain(updates, progress)
    except BaseException:
        for process in list(processes.values()):  # interrupted: do not wait for the episodes
            process.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return lost, {pid: p.exitcode for pid, p in processes.items()}


def _execute_ray(
    tasks: list[EpisodeTask],
    workers: int,
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
        pending = [remote.remote(task, plugin_set) for task in tasks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                if (summary := ray.get(ref)) is not None:
                    yield summary
    finally:
        if started_here:
            ray.shutdown()


def _guarded(
    task: EpisodeTask,
    progress: ProgressCallback | None,
    meter: BudgetMeter | _Interruptible | None,
    shared_model: RoleModels | None = None,
) -> EpisodeSummary | None:
    """Run a task unless the budget ran out (or the run was interrupted) before it started."""
    if meter is not None and meter.exhausted():
        return None
    return run_episode(task, progress, meter, shared_model)


def run_episode(
    task: EpisodeTask,
    on_progress: ProgressCallback | None = None,
    meter: BudgetMeter | _Interruptible | None = None,
    shared_model: RoleModels | None = None,
) -> EpisodeSummary | None:
    """Run one episode into the run's .partial area, then move it into place.

    A finished episode goes to ``episodes/<id>``, any other to ``episodes/.stopped/<id>``.
    On an exception nothing is left behind (environment and model closed, work removed).
    Returns None if the run's interrupt stopped it: the episode is then discarded.
    ``shared_model`` holds shareable models used (and left open) instead of fresh ones.
    """
    run_dir = RunDir(task.run_root)
    path = run_dir.scaffold_path(task.scaffold)
    scaffold = _load_run_scaffold(path, path.stat().st_mtime_ns)
    work = run_dir.partial_episode_dir(task.episode_id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        summary = _play(task, scaffold, work, on_progress, meter, shared_model)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not summary.finished and isinstance(meter, _Interruptible) and meter.interrupted:
        shutil.rmtree(work, ignore_errors=True)  # stopped by the interrupt: rerun on resume
        return None
    if summary.finished:
        run_dir.finish_episode(summary)
    else:
        run_dir.stop_episode(summary)
    return summary


def _play(
    task: EpisodeTask,
    scaffold: Scaffold,
    work: Path,
    on_progress: ProgressCallback | None,
    meter: BudgetMeter | _Interruptible | None,
    shared_model: RoleModels | None,
) -> EpisodeSummary:
    """Play the episode into ``work``; the environment and models of its own are closed."""
    env: TextEnv | None = None
    model = shared_model
    try:
        env = envs.make(task.task.env)
        model = model or load_roles(task.model, seed=task.seed)
        cap = min(task.task.max_steps or env.max_steps, env.max_steps)
        with TraceWriter(work / "trace.jsonl") as trace:
            Episode(
                env=env,
                model=model,
                scaffold=scaffold,
                seed=task.seed,
                episode_id=task.episode_id,
                memory_dir=work / "memory",
                trace=trace,
                max_steps=cap,
                on_step=(
                    (lambda step: on_progress(task.episode_id, step, cap)) if on_progress else None
                ),
                budget=meter,
            ).run()
        game = env.game
    finally:
        if env is not None:
            env.close()
        if model is not None and shared_model is None:
            model.close()
    return EpisodeSummary.from_trace(Trace.read(work / "trace.jsonl"), game=game)


# ---------------------------------------------------------------------- worker processes

_UPDATES: Any = None
_METER: BudgetMeter | None = None
_PLUGINS = plugins.PluginSet()


def _init_worker(
    updates: Any,
    meter: BudgetMeter | None,
    plugin_set: plugins.PluginSet,
    environment: dict[str, str],
) -> None:
    global _UPDATES, _METER, _PLUGINS
    _UPDATES, _METER, _PLUGINS = updates, meter, plugin_set
    # Before any model loads: its threads are this worker's share of the cores, and a
    # setting the user made (OMP_WAIT_POLICY, say) is kept.
    for key, value in environment.items():
        os.environ.setdefault(key, value)
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process ends the workers


def _run_ray_task(task: EpisodeTask, plugin_set: plugins.PluginSet) -> EpisodeSummary | None:
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
    # Written first, so the run can tell which episode a dead worker was running.
    pid_file = salvage.pid_file(RunDir(task.run_root), task.episode_id)
    pid_file.write_text(str(os.getpid()))
    last = [0.0]

    def report(episode: str, step: int, cap: int) -> None:
        now = time.monotonic()
        if step >= cap or now - last[0] > 0.2:
            last[0] = now
            _UPDATES.put((episode, step, cap))

    try:
        # Here rather than in the initializer: a failure then reaches the run with its message.
        plugins.activate(_PLUGINS)
        return _guarded(task, report, _METER)
    finally:
        pid_file.unlink(missing_ok=True)  # only a worker that died leaves its pid behind


def _drain(updates: Any, progress: ProgressCallback | None) -> None:
    while True:
        try:
            episode, step, cap = updates.get_nowait()
        except queue.Empty:
            return
        if progress:
            progress(episode, step, cap)
