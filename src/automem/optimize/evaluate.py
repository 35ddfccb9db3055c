"""One evaluation of a scaffold (screen, gate or held-out): a real, resumable run directory.

An evaluation resumed after a crash goes through :func:`automem.runs.run`, which keeps the
episodes that finished and reruns only the others. Its record says whether the scaffold can
be scored at all (:func:`automem.optimize.check_valid`): a stopped episode or one with model
errors makes it invalid with that reason, never a zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from automem import runs
from automem.optimize.config import OptimizeConfig
from automem.optimize.layout import OptDir
from automem.optimize.lineage import Stage, StageRecord
from automem.optimize.listener import Listener
from automem.optimize.spend import Spend
from automem.optimize.validity import check_valid, run_episodes
from automem.runs import EpisodeSummary, RunConfig, RunDir, TaskConfig, summarise


@dataclass(frozen=True)
class Evaluation:
    episodes: list[EpisodeSummary]  # finished or not
    record: StageRecord


def stage_config(
    config: OptimizeConfig, scaffold_file: Path, tasks: Sequence[TaskConfig], plugins: Sequence[str]
) -> RunConfig:
    return RunConfig(
        model=config.model,
        tasks=tuple(t.model_copy(update={"scaffold": str(scaffold_file)}) for t in tasks),
        constrained_output=config.constrained_output,
        plugins=tuple(plugins),
    )


def finished_in(run_dir: Path) -> int:
    """Episodes already finished in a run directory (0 before it exists)."""
    if not (run_dir / "run.json").exists():
        return 0
    return len(RunDir(run_dir).scan(strict=False).finished)


def evaluate(
    opt: OptDir,
    stage: Stage,
    run_dir: Path,
    run_config: RunConfig,
    *,
    config: OptimizeConfig,
    spend: Spend,
    listener: Listener,
    label: str,
) -> Evaluation:
    """Run (or resume) ``run_config`` into ``run_dir`` and score it."""
    needed = run_config.episodes - finished_in(run_dir)
    spend.check_episodes(needed, f"{label} {stage}")
    listener.stage(f"{label} {stage}", needed)

    def on_end(summary: EpisodeSummary) -> None:
        listener.episode_end(summary)
        spend.check_time()  # the stop file and the wall time end it after any episode

    try:
        runs.run(
            run_config,
            run_dir,
            workers=config.workers,
            executor=config.executor,
            progress=listener.step,
            on_end=on_end,
        )
    finally:
        listener.stage_end()
    return score(opt, stage, run_dir, run_config)


def score(opt: OptDir, stage: Stage, run_dir: Path, run_config: RunConfig) -> Evaluation:
    """The record of a run directory's episodes as one evaluation of a scaffold."""
    episodes = run_episodes(run_dir)
    expected = [(t.env, s) for t in run_config.tasks for s in t.seeds]
    validity = check_valid(episodes, expected=expected)
    overall = summarise(episodes).overall
    record = StageRecord(
        stage=stage,
        run=opt.relative(run_dir),
        episodes=len(episodes),
        finished=sum(e.finished for e in episodes),
        mean=overall.progression.mean if overall else None,
        se=overall.progression.se if overall else None,
        valid=validity.valid,
        reasons=list(validity.reasons),
        agent_tokens=sum(e.totals.prompt_tokens + e.totals.completion_tokens for e in episodes),
        agent_cost_usd=sum(e.totals.cost_usd for e in episodes),
    )
    return Evaluation(episodes, record)
