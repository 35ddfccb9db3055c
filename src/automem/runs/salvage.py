"""Episodes whose worker process died: which one it was, and what is kept of it.

Each worker writes ``.partial/<id>.pid`` before it starts an episode, so when a process
pool breaks the run can tell, from the workers' exit codes, the episode whose worker died
(killed by the out-of-memory killer or ``kill -9``, or exited) from those the broken
pool terminated. The dead worker's trace has no end record and its last line may be
cut: the episode is kept under ``.stopped`` as failed (not a result), summarised from the
records that can be read, the reason saying how the worker ended.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from automem import envs
from automem.runs.directory import RunDir, RunDirError, read_result
from automem.runs.summary import EpisodeSummary
from automem.traces.io import TraceError, iter_records
from automem.traces.schema import CallRecord, EpisodeTotals, Header, StepRecord


def pid_file(run_dir: RunDir, episode: str) -> Path:
    return run_dir.partial_dir / f"{episode}.pid"


def take_pid(run_dir: RunDir, episode: str) -> int | None:
    """The pid of the worker that started ``episode`` (forgotten once read), if one did."""
    path = pid_file(run_dir, episode)
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink()
    return pid


def finished_meanwhile(run_dir: RunDir, episode: str) -> EpisodeSummary | None:
    """The result of an episode that finished just before its pool broke, if it did."""
    path = run_dir.episode_dir(episode) / "result.json"
    if not path.exists():
        return None
    try:
        summary = read_result(path)
    except RunDirError:
        return None  # not a result: the episode runs again and its folder is replaced
    return summary if summary.finished else None


def record_died(
    run_dir: RunDir, episode: str, *, env_id: str, seed: int, why: str
) -> EpisodeSummary:
    """Keep what a dead worker left of ``episode`` under .stopped, as a failed episode."""
    summary = died_episode(
        run_dir.partial_episode_dir(episode) / "trace.jsonl",
        episode_id=episode,
        env_id=env_id,
        seed=seed,
        why=why,
    )
    run_dir.stop_episode(summary)
    return summary


def exit_description(code: int | None, breaks: int) -> str:
    """How a worker process ended, from its exit code (None: unknown, lost ``breaks`` times)."""
    if code is None:
        return f"its worker was lost in {breaks} process-pool breaks"
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (the out-of-memory killer, or kill -9)" if -code == signal.SIGKILL else ""
        return f"killed by signal {name}{hint}"
    return f"exited with code {code}"


def died_episode(
    trace_path: Path, *, episode_id: str, env_id: str, seed: int, why: str
) -> EpisodeSummary:
    """The summary of an episode whose worker died, from what its trace holds."""
    records: list[Any] = []
    reason = f"worker process died: {why}"
    try:
        records.extend(iter_records(trace_path))
    except TraceError as exc:
        reason += f" (trace kept up to: {exc})"
    header = next((r for r in records if isinstance(r, Header)), None)
    steps = [r for r in records if isinstance(r, StepRecord)]
    calls = [r for r in records if isinstance(r, CallRecord)]
    usages = [c.usage for c in calls if c.usage is not None]
    return EpisodeSummary(
        episode_id=episode_id,
        env_id=env_id,
        game=header.game if header else _game(env_id),
        seed=seed,
        status="error",
        reason=reason,
        steps=len(steps),
        episode_return=sum(s.reward for s in steps),
        progression=steps[-1].progression if steps else 0.0,
        totals=EpisodeTotals(
            model_calls=len(calls),
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            cost_usd=sum(u.cost_usd or 0.0 for u in usages),
            model_errors=sum(c.error is not None for c in calls),
        ),
        duration_s=0.0,
    )


def _game(env_id: str) -> str:
    """The game of an environment (the trace had no header to say it)."""
    env = envs.make(env_id)
    try:
        return env.game
    finally:
        env.close()
