"""Compact text renderings of trace records, statistics and memory for the reviewer's tools."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel

from automem.runs.reader import FileChange
from automem.traces.schema import (
    CallRecord,
    CommandRecord,
    EndRecord,
    EventRecord,
    MessageRecord,
    ObservationRecord,
    StepRecord,
)
from automem.traces.stats import EpisodeStats

MAX_STEP_RANGE = 20  # steps per read_steps call
FIELD_CHARS = 2_000  # one observation, reply or file shown in full up to this
RESULT_CHARS = 300  # one command result
FIRST_REWARDS = 20  # reward steps listed per episode (as the reference does)

Replies = Callable[[Iterable[int]], dict[int, MessageRecord]]


def cap(text: str, limit: int) -> str:
    """``text``, cut at ``limit`` characters with a note that says so and what to do."""
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[truncated at {limit} of {len(text)} characters; ask for a narrower "
        "range: fewer steps, one episode or file, a smaller limit]"
    )


def clip(text: str, limit: int = FIELD_CHARS) -> str:
    """One field of a record, cut with a count of what is left out."""
    return text if len(text) <= limit else f"{text[:limit]} [... {len(text) - limit} more chars]"


def render_episode(stats: EpisodeStats, reward_steps: Sequence[int]) -> str:
    """The per-episode line: the reference's figures, then ours."""
    shown = ", ".join(map(str, reward_steps[:FIRST_REWARDS]))
    extra = len(reward_steps) - FIRST_REWARDS
    more = f" (+{extra} more)" if extra > 0 else ""
    at = f" at steps {shown}{more}" if reward_steps else ""
    return (
        f"{stats.episode_id}: progression {stats.progression:.1%}, {stats.steps} steps | "
        f"{stats.reward_events} reward events{at} | invalid actions {stats.invalid_actions}, "
        f"unchanged observations {stats.unchanged_observations} | zero-reward streak longest "
        f"{stats.longest_zero_reward_streak}, mean {stats.mean_zero_reward_streak:.1f} | writes "
        f"{stats.writes} ({stats.redundant_writes} redundant), searches {stats.searches} "
        f"({stats.empty_searches} empty), reads {stats.reads} ({stats.reads_used} used), "
        f"fallbacks {stats.fallbacks}, refused commands {stats.refused_commands}, model errors "
        f"{stats.model_errors} | tokens per step {stats.input_tokens_per_step:.0f} in, "
        f"{stats.output_tokens_per_step:.0f} out"
    )


def render_records(records: Sequence[BaseModel], replies: Replies, *, prompts: bool) -> str:
    """The records of a step range, one short block each, in trace order."""
    stored = {r.id: r for r in records if isinstance(r, MessageRecord)}
    wanted = [
        r.response
        for r in records
        if isinstance(r, CallRecord) and r.response is not None and r.response not in stored
    ]
    if wanted:  # a reply repeated word for word is stored once, at an earlier step
        stored |= replies(wanted)
    lines: list[str] = []
    step = None
    for record in records:
        at = getattr(record, "step", None)
        if at is not None and at != step and at >= 0:
            step = at
            lines.append(f"== step {at} ==")
        lines.extend(_record_lines(record, stored, prompts))
    return "\n".join(lines) if lines else "(no records in this range)"


def _record_lines(
    record: BaseModel, messages: dict[int, MessageRecord], prompts: bool
) -> list[str]:
    if isinstance(record, ObservationRecord):
        out = [f"observation:\n{_indent(clip(_compact(record.text)))}"]
        if record.short_term:
            out.append(f"recent history:\n{_indent(clip(_compact(record.short_term)))}")
        return out
    if isinstance(record, MessageRecord):
        if prompts and record.role != "assistant":
            return [f"[{record.phase}] {record.role} prompt:\n{_indent(clip(record.content))}"]
        return []
    if isinstance(record, CallRecord):
        where = f"[{record.phase} turn {record.turn}]"
        if record.error is not None:
            return [f"{where} model error ({record.error_kind}): {clip(record.error, 300)}"]
        reply = messages.get(record.response) if record.response is not None else None
        text = reply.content if reply is not None else "(reply not found in the trace)"
        tokens = ""
        if record.usage is not None:
            tokens = f" ({record.usage.prompt_tokens} in, {record.usage.completion_tokens} out)"
        return [f"{where} model replied{tokens}:\n{_indent(clip(text))}"]
    if isinstance(record, CommandRecord):
        who = "helper " if record.phase == "helper" else ""
        verdict = "ok" if record.ok else "REFUSED"
        args = clip("|".join(record.args), 200)
        result = clip(record.result, RESULT_CHARS).replace("\n", " / ")
        return [f"  {who}{record.op} {args} -> {verdict}: {result}"]
    if isinstance(record, EventRecord):
        return [f"  event {record.kind}: {clip(record.message, 300)}"]
    if isinstance(record, StepRecord):
        proposed = "" if record.proposed == record.action else f" (proposed {record.proposed!r})"
        fallback = f" FALLBACK: {record.fallback}" if record.fallback else ""
        validity = "valid" if record.valid else "INVALID"
        ended = " terminated" if record.terminated else (" truncated" if record.truncated else "")
        return [
            f"step {record.step}: action {record.action!r}{proposed} {validity}, reward "
            f"{record.reward:g}, progression {record.progression:.1%}{fallback}{ended}"
        ]
    if isinstance(record, EndRecord):
        return [f"episode ended: {record.status} ({record.reason}) after {record.steps} steps"]
    return []


def render_memory(files: dict[str, str]) -> str:
    blocks = []
    for name, content in sorted(files.items()):
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        body = clip(content) if content else "(empty)"
        blocks.append(f"--- {name} ({len(content)} chars, {lines} lines) ---\n{body}")
    return "\n".join(blocks) if blocks else "(no memory files)"


def render_changes(
    changes: Sequence[FileChange], shown: Sequence[FileChange], initial: str = ""
) -> str:
    """Each change as what it added (a pure addition) or the whole new content."""
    before: dict[int, str] = {}
    content = initial
    for i, change in enumerate(changes):
        before[i] = content
        content = change.content
    index = {id(c): i for i, c in enumerate(changes)}
    blocks = []
    for change in shown:
        previous = before[index[id(change)]]
        head = f"step {change.step} {change.phase} {change.op} -> {len(change.content)} chars"
        if previous and change.content.startswith(previous):
            added = change.content[len(previous) :]
            blocks.append(f"{head}, added:\n{_indent(clip(added))}")
        else:
            blocks.append(f"{head}, now:\n{_indent(clip(change.content) or '(empty)')}")
    return "\n".join(blocks) if blocks else "(no changes in this range)"


def _compact(text: str) -> str:
    """Trailing blanks off every line and no run of blank lines (a game map's empty rows)."""
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip("\n")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines()) or "    (empty)"
