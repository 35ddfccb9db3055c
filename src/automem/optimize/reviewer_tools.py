"""The LLM reviewer's read-only tools over the runs and the lineage of one review.

Runs are named by alias (``parent-0``, ``parent-1``, ... for the parent's evaluation runs,
``failed-0``, ... for a continuation's failed candidate), never by a path from the model; each
is read through :class:`automem.runs.reader.RunReader` with ``write_index=False`` (no cache is
written beside a trace), which checks episode ids against the run's own folders and refuses
anything that leads outside it. Every result is capped at ``MAX_RESULT_CHARS`` with a note
asking for a narrower range. A tool's bad input raises ``ValueError`` with a message written
for the model; the session sends it back as an error result.

``submit`` and ``write_code`` change the session's state and live with it
(:mod:`automem.optimize.reviewer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from automem.agent.catalogue import catalogue_text, helper_catalogue, helper_entry
from automem.models.chat import Tool
from automem.optimize.review import ReviewContext
from automem.optimize.reviewer_render import (
    MAX_STEP_RANGE,
    cap,
    render_changes,
    render_episode,
    render_memory,
    render_records,
)
from automem.runs.reader import TRACE_FILE, RunReader
from automem.traces.io import Trace
from automem.traces.schema import StepRecord
from automem.traces.stats import episode_stats

MAX_RESULT_CHARS = 12_000
SearchKind = Literal["observation", "reply", "result"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(_Args):
    pass


class RunArgs(_Args):
    run: str = Field(description="A run alias, e.g. 'parent-0' (list in the first message).")


class EpisodeArgs(RunArgs):
    episode: str = Field(description="An episode id as list_episodes shows it.")


class ReadSteps(EpisodeArgs):
    start: int = Field(ge=0, description="First step to show.")
    stop: int | None = Field(
        None,
        description=f"One past the last step (default start+1, at most start+{MAX_STEP_RANGE}).",
    )
    prompts: bool = Field(False, description="Also show the prompts the model was given (long).")


class SearchArgs(RunArgs):
    pattern: str = Field(min_length=1, max_length=500, description="Text, or a regex if regex.")
    regex: bool = False
    ignore_case: bool = True
    kinds: list[SearchKind] = Field(
        default_factory=lambda: ["observation", "reply", "result"],
        description="Where to look: observations, model replies, command results.",
    )
    episode: str | None = Field(None, description="Only this episode (default: all of the run).")
    limit: int = Field(30, ge=1, le=200, description="At most this many matches.")


class MemoryAtArgs(EpisodeArgs):
    step: int = Field(ge=0, description="The memory as it was after every command of this step.")
    file: str | None = Field(None, description="Only this file (default: every file).")


class FileHistoryArgs(EpisodeArgs):
    file: str = Field(description="A memory file name.")
    start: int = Field(0, ge=0, description="First step of the changes to show.")
    stop: int | None = Field(None, description="One past the last step (default: the end).")


class ScaffoldArgs(_Args):
    numbered: bool = Field(False, description="Prefix line numbers (to write a patch).")


class CatalogueArgs(_Args):
    name: str | None = Field(None, description="One helper's whole entry with its JSON schema.")


class LineageArgs(_Args):
    attempt: str | None = Field(None, description="Only this attempt (e.g. 'v1-a2').")


class ReviewTools:
    """The read-only tools of one review: offered :meth:`tools`, run by :meth:`run`."""

    def __init__(self, context: ReviewContext) -> None:
        self.context = context
        self.runs: dict[str, Path] = {f"parent-{i}": p for i, p in enumerate(context.parent_runs)}
        if context.continuation_of is not None:
            failed = context.continuation_of.runs
            self.runs |= {f"failed-{i}": p for i, p in enumerate(failed)}
        self._readers: dict[str, RunReader] = {}
        self._stats: dict[tuple[str, str], str] = {}
        self._handlers: dict[str, tuple[type[BaseModel], Callable[..., str]]] = {
            "list_episodes": (RunArgs, self.list_episodes),
            "read_steps": (ReadSteps, self.read_steps),
            "search": (SearchArgs, self.search),
            "memory_at": (MemoryAtArgs, self.memory_at),
            "file_history": (FileHistoryArgs, self.file_history),
            "current_scaffold": (ScaffoldArgs, self.current_scaffold),
            "helper_catalogue": (CatalogueArgs, self.helper_catalogue),
            "lineage": (LineageArgs, self.lineage),
        }
        if context.continuation_of is not None:
            self._handlers["failed_candidate"] = (NoArgs, self.failed_candidate)

    # ------------------------------------------------------------------ the offer

    def tools(self) -> tuple[Tool, ...]:
        return tuple(
            Tool(name=name, description=_DESCRIPTIONS[name], params=params)
            for name, (params, _) in self._handlers.items()
        )

    def run(self, name: str, args: BaseModel) -> str:
        """The capped text result of one validated call (ValueError: bad input, for the model)."""
        _, handler = self._handlers[name]
        return cap(handler(args), MAX_RESULT_CHARS)

    def reader(self, alias: str) -> RunReader:
        if alias not in self.runs:
            known = ", ".join(self.runs) or "none"
            raise ValueError(f"unknown run {alias!r}; the runs are: {known}")
        if alias not in self._readers:
            self._readers[alias] = RunReader(self.runs[alias], write_index=False)
        return self._readers[alias]

    def overview(self) -> str:
        """One line per run alias: what it is and how many episodes it holds."""
        lines = []
        for alias in self.runs:
            scan = self.reader(alias).episodes()
            whose = "the parent" if alias.startswith("parent") else "the failed candidate"
            lines.append(
                f"- {alias}: an evaluation run of {whose}: {len(scan.finished)} finished "
                f"episodes, {len(scan.stopped)} stopped or failed"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ runs

    def list_episodes(self, args: RunArgs) -> str:
        reader = self.reader(args.run)
        scan = reader.episodes()
        config = reader.config()
        tasks = "; ".join(
            f"{t.env} seeds {','.join(map(str, t.seeds))} max_steps {t.max_steps}"
            for t in config.tasks
        )
        finished = list(scan.finished.values())
        mean = sum(s.progression for s in finished) / len(finished) if finished else 0.0
        lines = [
            f"run {args.run}: {tasks}",
            f"{len(finished)} finished episodes, mean progression {mean:.1%}; "
            f"{len(scan.stopped)} stopped or failed (data, not scores)",
        ]
        for summary in scan.episodes():
            lines.append(self._episode_line(args.run, summary.episode_id, summary.status))
            if not summary.finished:
                lines.append(f"    ended {summary.status}: {summary.reason}")
        lines += [f"problem: {p}" for p in scan.problems]
        return "\n".join(lines)

    def _episode_line(self, alias: str, episode: str, status: str) -> str:
        key = (alias, episode)
        if key not in self._stats:
            path = self.reader(alias).episode_dir(episode) / TRACE_FILE
            trace = Trace.read(path)
            rewards = [s.step for s in trace.of_type(StepRecord) if s.reward > 0]
            self._stats[key] = render_episode(episode_stats(trace), rewards)
        line = self._stats[key]
        return line if status == "finished" else f"{line} [{status}]"

    def read_steps(self, args: ReadSteps) -> str:
        stop = args.start + 1 if args.stop is None else args.stop
        if stop <= args.start or stop - args.start > MAX_STEP_RANGE:
            raise ValueError(
                f"read_steps: stop must be above start and at most start+{MAX_STEP_RANGE} "
                f"(got {args.start}..{stop}); read a long stretch in several calls"
            )
        episode = self.reader(args.run).trace(args.episode)
        count = episode.step_count()
        if args.start > count:
            raise ValueError(
                f"read_steps: episode {args.episode} has {count} steps (0..{count - 1}); "
                f"start {args.start} is past its end"
            )
        records = episode.steps(args.start, stop)
        text = render_records(records, episode.replies, prompts=args.prompts)
        return f"episode {args.episode}, steps {args.start}..{stop - 1} of {count}:\n{text}"

    def search(self, args: SearchArgs) -> str:
        if args.regex and nested_repeat(args.pattern):
            raise ValueError(
                "search: a repeated group that holds a repeat, like (a+)+, can take exponential "
                "time; write the regex without nesting repeats"
            )
        reader = self.reader(args.run)
        episodes = None
        if args.episode is not None:
            reader.episode_dir(args.episode)  # an unknown id fails here, by name
            episodes = [args.episode]
        hits = reader.search(
            args.pattern,
            regex=args.regex,
            ignore_case=args.ignore_case,
            kinds=args.kinds,
            limit=args.limit,
            episodes=episodes,
        )
        full = " (the limit: there may be more; narrow the pattern or an episode)"
        lines = [f"{len(hits)} matches{full if len(hits) >= args.limit else ''}"]
        lines += [f"{h.episode} step {h.step} {h.phase or '-'} {h.kind}: {h.excerpt}" for h in hits]
        return "\n".join(lines)

    def memory_at(self, args: MemoryAtArgs) -> str:
        files = self.reader(args.run).trace(args.episode).memory_at(args.step)
        if args.file is not None and args.file not in files:
            raise ValueError(
                f"memory_at: no file {args.file!r} at step {args.step}; files: "
                f"{', '.join(sorted(files)) or 'none'}"
            )
        shown = {args.file: files[args.file]} if args.file is not None else files
        head = f"memory of {args.episode} after step {args.step} ({len(files)} files):"
        return f"{head}\n{render_memory(shown)}"

    def file_history(self, args: FileHistoryArgs) -> str:
        episode = self.reader(args.run).trace(args.episode)
        changes = episode.file_history(args.file)
        initial = episode.header().initial_files.get(args.file, "")
        stop = args.stop
        shown = [c for c in changes if c.step >= args.start and (stop is None or c.step < stop)]
        head = f"{args.file} in {args.episode}: {len(changes)} changes, {len(shown)} shown"
        return f"{head}\n{render_changes(changes, shown, initial)}"

    # ------------------------------------------------------------------ the optimisation

    def current_scaffold(self, args: ScaffoldArgs) -> str:
        text = self.context.parent_text
        if not args.numbered:
            return text
        return "\n".join(f"{i:4d} {line}" for i, line in enumerate(text.splitlines(), 1))

    def helper_catalogue(self, args: CatalogueArgs) -> str:
        entries = helper_catalogue(self.context.game)
        if args.name is None:
            return catalogue_text(entries)
        if args.name not in {e["name"] for e in entries}:
            known = ", ".join(e["name"] for e in entries)
            raise ValueError(f"no helper {args.name!r} for {self.context.game}; helpers: {known}")
        return json.dumps(helper_entry(args.name), indent=1)

    def lineage(self, args: LineageArgs) -> str:
        earlier = self.context.earlier
        if args.attempt is not None:
            earlier = tuple(a for a in earlier if a.id == args.attempt)
            if not earlier:
                known = ", ".join(a.id for a in self.context.earlier) or "none"
                raise ValueError(f"no earlier attempt {args.attempt!r}; attempts: {known}")
        if not earlier:
            return "no earlier attempts: this is the first revision"
        blocks = []
        for a in earlier:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in a.scores.items()) or "none"
            blocks.append(
                f"{a.id} (version {a.version}, {a.kind}, revising {a.parent}): {a.verdict}: "
                f"{a.reason}\n  candidate: {a.candidate or 'none'}; scores: {scores}\n"
                f"  description: {a.description or '(none)'}\n  diff:\n{a.diff or '(none)'}"
            )
        return "\n\n".join(blocks)

    def failed_candidate(self, args: NoArgs) -> str:
        failed = self.context.continuation_of
        if failed is None:  # not offered then; kept as a guard
            raise ValueError("this session is not a continuation")
        scores = ", ".join(f"{k} {v:.3f}" for k, v in failed.scores.items()) or "none"
        runs = ", ".join(a for a in self.runs if a.startswith("failed-")) or "none"
        return (
            f"attempt {failed.attempt}; scores: {scores}; its runs: {runs}\n"
            f"diff against the parent:\n{failed.diff}\n\nits scaffold:\n{failed.scaffold_text}"
        )


def nested_repeat(pattern: str) -> bool:
    """Whether a repeated group holds a repeat, e.g. ``(a+)+`` or ``((a|b)*c)*``: such a regex
    can take exponential time on a long text, and a model's pattern must not stall the session.
    """
    stack: list[bool] = []  # per open group: does it hold a repeat so far
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            stack.append(False)
        elif char == ")" and stack:
            inner = stack.pop()
            repeated = pattern[i + 1 : i + 2] in ("+", "*", "{")
            if inner and repeated:
                return True
            if stack and (inner or repeated):
                stack[-1] = True
        elif char in "+*{" and stack:
            stack[-1] = True
        i += 1
    return False


_DESCRIPTIONS = {
    "list_episodes": "One line per episode of a run: progression, steps, reward events and the "
    "steps they came at, invalid actions, unchanged observations, longest and mean zero-reward "
    "streak, redundant writes, empty searches, fallbacks, refused commands, tokens per step.",
    "read_steps": f"The records of a range of steps of one episode (at most {MAX_STEP_RANGE} "
    "steps): observation, each model reply, each command and its result, events, the action.",
    "search": "Text or regex search over a run's observations, model replies and command "
    "results; returns episode, step, phase and an excerpt per match.",
    "memory_at": "The memory files of an episode as they were after a given step.",
    "file_history": "Every change to one memory file during an episode, step by step.",
    "current_scaffold": "The scaffold being revised (the parent), as YAML.",
    "helper_catalogue": "The helpers a scaffold can switch on for this game, with parameters.",
    "lineage": "The earlier attempts of this optimisation: description, verdict, scores, diff.",
    "failed_candidate": "The failed candidate this continuation revisits: its scores, diff, "
    "scaffold and its runs' aliases (read them with the same tools).",
}
