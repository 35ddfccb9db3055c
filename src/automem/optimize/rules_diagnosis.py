"""The figures the rules reviewer diagnoses from: per episode, then pooled over a run set.

Read through :class:`automem.runs.RunReader` (read-only: no index is written into the runs)
from finished episodes only. Each episode contributes the behaviour statistics of
:mod:`automem.traces.stats` (from its summary) and a few of its own, read from its trace
records: revisits (arriving at a map cell, or an observation, seen before in the episode),
LOG phases that wrote nothing, reads of files that did not exist, which files the model
appends to and searches in vain, each file's final length and, for Crafter, crafts that
changed nothing, steps with a low vital, and inventory changes no LOG wrote about.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from automem.core import Frozen
from automem.envs.nle_map import cursor
from automem.memory import READ_OPS, WRITE_OPS
from automem.runs.reader import EpisodeReader, RunReader
from automem.runs.summary import EpisodeSummary
from automem.traces.schema import CallRecord, CommandRecord, ObservationRecord, StepRecord

VITALS = ("health", "food", "drink", "energy")
LOW_VITAL = 3  # a vital at or below this is low (Crafter's vitals run 0..9)
CRAFT_PREFIXES = ("make ", "place ")


class EpisodeFigures(Frozen):
    """What the rules look at in one finished episode."""

    run: str
    episode_id: str
    env_id: str
    seed: int
    steps: int
    progression: float
    reward_events: int
    longest_zero_reward_streak: int
    invalid_actions: int
    unchanged_observations: int
    fallbacks: int
    writes: int
    redundant_writes: int
    searches: int
    empty_searches: int
    reads: int
    commands: int
    refused_commands: int
    prompt_tokens: int
    revisits: int = Field(description="Observations at a cell (or with a text) seen before.")
    log_phases: int
    silent_logs: int = Field(description="LOG phases in which the model wrote nothing.")
    missing_reads: dict[str, int] = Field(description="Reads of files that did not exist.")
    empty_by_file: dict[str, int]
    writes_by_file: dict[str, int]
    final_lines: dict[str, int]
    crafts: int = 0
    failed_crafts: int = Field(0, description="Make/Place steps the inventory did not change.")
    low_vital_steps: int = 0
    inventory_changes: int = 0
    unlogged_changes: int = Field(0, description="Inventory changes the next LOG wrote nothing on.")
    died: bool = False


class Figures(BaseModel):
    """The episodes' figures summed, with the rates the rules compare to their thresholds."""

    episodes: int
    steps: int
    progression: float  # mean over episodes
    sums: dict[str, int]
    missing_reads: dict[str, int]
    empty_by_file: dict[str, int]
    writes_by_file: dict[str, int]
    longest_file: tuple[str, int] | None  # (name, lines) of the longest final file
    deaths: int
    zero_streak_share: float  # mean of longest zero-reward streak / steps

    def rate(self, part: str, whole: str) -> float:
        total = self.steps if whole == "steps" else self.sums[whole]
        return self.sums[part] / total if total else 0.0


class NoEvidence(ValueError):
    """The parent's runs hold no finished episode to diagnose."""


def diagnose(runs: Sequence[Path]) -> list[EpisodeFigures]:
    """The figures of every finished episode of ``runs``, in run then folder order."""
    figures = []
    for root in runs:
        reader = RunReader(Path(root), write_index=False)
        for episode_id, summary in reader.episodes().finished.items():
            trace = reader.trace(episode_id)
            figures.append(episode_figures(Path(root).name, summary, trace))
    if not figures:
        listed = ", ".join(str(r) for r in runs) or "none given"
        raise NoEvidence(f"no finished episode in the parent's runs ({listed}) to diagnose")
    return figures


def episode_figures(run: str, summary: EpisodeSummary, trace: EpisodeReader) -> EpisodeFigures:
    if summary.behaviour is None:
        raise NoEvidence(f"episode {summary.episode_id} of run {run} has no behaviour statistics")
    stats = summary.behaviour
    records = trace.steps(0, trace.step_count() + 1)  # the last observation has no step
    steps = [r for r in records if isinstance(r, StepRecord)]
    commands = [r for r in records if isinstance(r, CommandRecord)]
    observations = [r for r in records if isinstance(r, ObservationRecord)]
    memory = trace.memory_at(max(trace.step_count() - 1, 0)) if steps else {}
    log_steps = {r.step for r in records if isinstance(r, CallRecord) and r.phase == "log"}
    wrote = {c.step for c in commands if _model_write(c) and c.phase == "log"}
    return EpisodeFigures(
        run=run,
        episode_id=summary.episode_id,
        env_id=summary.env_id,
        seed=summary.seed,
        steps=stats.steps,
        progression=summary.progression,
        reward_events=stats.reward_events,
        longest_zero_reward_streak=stats.longest_zero_reward_streak,
        invalid_actions=stats.invalid_actions,
        unchanged_observations=stats.unchanged_observations,
        fallbacks=stats.fallbacks,
        writes=stats.writes,
        redundant_writes=stats.redundant_writes,
        searches=stats.searches,
        empty_searches=stats.empty_searches,
        reads=stats.reads,
        commands=sum(1 for c in commands if c.phase != "helper"),
        refused_commands=stats.refused_commands,
        prompt_tokens=stats.prompt_tokens,
        revisits=_revisits(observations, steps),
        log_phases=len(log_steps),
        silent_logs=len(log_steps - wrote),
        missing_reads=_missing_reads(trace.header().initial_files, commands),
        empty_by_file=_count(c.args[0] for c in commands if _empty_search(c)),
        writes_by_file=_count(c.file or c.args[0] for c in commands if _model_write(c)),
        final_lines={name: len(text.splitlines()) for name, text in sorted(memory.items())},
        **_crafter(steps, wrote),
    )


def pool(episodes: Sequence[EpisodeFigures]) -> Figures:
    """The episodes' figures summed (counts) and merged (per-file counters)."""
    if not episodes:
        raise NoEvidence("no episode to pool")
    counted = [
        name
        for name, info in EpisodeFigures.model_fields.items()
        if info.annotation is int and name not in ("seed",)
    ]
    sums = {name: sum(getattr(e, name) for e in episodes) for name in counted}
    longest = max(
        ((name, lines) for e in episodes for name, lines in e.final_lines.items()),
        key=lambda item: (item[1], item[0]),
        default=None,
    )
    return Figures(
        episodes=len(episodes),
        steps=sums["steps"],
        progression=sum(e.progression for e in episodes) / len(episodes),
        sums=sums,
        missing_reads=_merge(e.missing_reads for e in episodes),
        empty_by_file=_merge(e.empty_by_file for e in episodes),
        writes_by_file=_merge(e.writes_by_file for e in episodes),
        longest_file=longest,
        deaths=sum(e.died for e in episodes),
        zero_streak_share=sum(
            e.longest_zero_reward_streak / e.steps if e.steps else 0.0 for e in episodes
        )
        / len(episodes),
    )


def top(counter: dict[str, int]) -> str | None:
    """The key with the highest count (ties: the first by name), or None."""
    return min(counter, key=lambda k: (-counter[k], k)) if counter else None


# ---------------------------------------------------------------------- per-trace figures


def _model_write(command: CommandRecord) -> bool:
    return command.ok and command.op in WRITE_OPS and command.phase != "helper"


def _empty_search(command: CommandRecord) -> bool:
    return command.op == "SEARCH" and command.ok and command.matches == 0 and bool(command.args)


def _revisits(observations: list[ObservationRecord], steps: list[StepRecord]) -> int:
    """Observations (after the first) arriving at a place seen before in the episode.

    The place is the NLE cursor cell (with the dungeon depth, when the step says it); for a
    game without one, the observation's whole text. Staying on a cell is not a revisit.
    """
    depth = {s.step + 1: s.info.get("depth") for s in steps}
    if steps:  # the first observation's level: the first step's (it rarely changes it)
        depth[0] = steps[0].info.get("depth")
    seen: set[Any] = set()
    revisits, here = 0, None
    for obs in observations:
        cell = cursor(obs.text)
        place: Any = obs.text if cell is None else (depth.get(obs.step), *cell)
        if obs.step > 0 and place in seen and place != here:
            revisits += 1
        seen.add(place)
        here = place
    return revisits


def _missing_reads(initial: dict[str, str], commands: list[CommandRecord]) -> dict[str, int]:
    """Refused reads of a file that no write had created (the file the model expected)."""
    exists = set(initial)
    missing: Counter[str] = Counter()
    for command in commands:
        name = command.args[0] if command.args else None
        if command.op in READ_OPS and not command.ok and name and name not in exists:
            missing[name] += 1
        if command.ok and command.op in WRITE_OPS:
            exists.add(command.file or (command.args[0] if command.args else ""))
    return dict(sorted(missing.items()))


def _crafter(steps: list[StepRecord], wrote: set[int]) -> dict[str, Any]:
    """Crafter's figures from the inventory each step reports ({} for other games)."""
    if not steps or "inventory" not in steps[0].info:
        return {}
    crafts = failed = low = changes = unlogged = 0
    before: dict[str, int] | None = None
    for step in steps:
        inventory: dict[str, int] = step.info.get("inventory", {})
        items = {k: n for k, n in inventory.items() if k not in VITALS and n}
        changed = before is not None and items != before
        if step.action.lower().startswith(CRAFT_PREFIXES) and before is not None:
            crafts += 1
            failed += not changed and not step.info.get("achievements_unlocked")
        if changed:
            changes += 1
            unlogged += step.step + 1 not in wrote and not (step.terminated or step.truncated)
        low += any(inventory.get(v, 9) <= LOW_VITAL for v in VITALS)
        before = items
    died = steps[-1].terminated and steps[-1].info.get("inventory", {}).get("health", 1) <= 0
    return {
        "crafts": crafts,
        "failed_crafts": failed,
        "low_vital_steps": low,
        "inventory_changes": changes,
        "unlogged_changes": unlogged,
        "died": died,
    }


def _count(names: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(names).items()))


def _merge(counters: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))
