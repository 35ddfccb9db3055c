"""What a run's models did, for the ledger's base-against-specialist comparison.

Two views of a run's finished episodes:

* per role (``agent``, or ``memory`` and ``action``), how many answered calls' replies hold a
  memory command the parser reads, and how many hold one *well-formed*: nothing had to be
  repaired (:func:`automem.memory.parse_commands` records no normalisation), the form that
  reaches the agent under the grammar and that training teaches;
* the mean per episode of the behaviour statistics of the run summary
  (:class:`automem.traces.stats.EpisodeStats`: writes, empty searches, fallbacks, refused
  commands, progression, ...).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from automem.core import Frozen
from automem.memory import MEMORY_OPS, parse_commands
from automem.runs.reader import RunReader
from automem.runs.summary import EpisodeSummary
from automem.traces import CallRecord, MessageRecord, Trace

Finished = list[tuple[EpisodeSummary, Path]]  # a run's finished episodes: summary, trace

BEHAVIOUR = (
    "progression",
    "steps",
    "writes",
    "redundant_writes",
    "searches",
    "empty_searches",
    "reads",
    "reads_used",
    "refused_commands",
    "fallbacks",
    "invalid_actions",
    "model_calls",
    "model_errors",
    "completion_tokens",
)


class ReplyCounts(Frozen):
    replies: int
    with_memory_command: int
    well_formed: int

    @property
    def well_formed_share(self) -> float | None:
        return self.well_formed / self.replies if self.replies else None


def reply_kind(text: str) -> tuple[bool, bool]:
    """(holds a memory command, holds one and needed no repair) for one reply."""
    parsed = parse_commands(text)
    memory = any(c.op in MEMORY_OPS for c in parsed.commands)
    return memory, memory and not parsed.normalisations


def reply_counts(finished: Finished) -> dict[str, ReplyCounts]:
    """Per role, the answered calls of finished episodes and their replies' kinds."""
    counts: dict[str, Counter[str]] = {}
    for _, path in finished:
        trace = Trace.read(path)
        contents = {m.id: m.content for m in trace.of_type(MessageRecord)}
        for call in trace.of_type(CallRecord):
            if call.response is None:
                continue
            tally = counts.setdefault(call.role or "agent", Counter())
            memory, well_formed = reply_kind(contents[call.response])
            tally.update(replies=1, memory=int(memory), well_formed=int(well_formed))
    return {
        role: ReplyCounts(
            replies=c["replies"], with_memory_command=c["memory"], well_formed=c["well_formed"]
        )
        for role, c in sorted(counts.items())
    }


def behaviour_means(finished: Finished) -> dict[str, float]:
    """The mean of each :data:`BEHAVIOUR` statistic over finished episodes."""
    stats = [s.behaviour for s, _ in finished]
    known = [s for s in stats if s is not None]
    if not known:
        return {}
    return {k: sum(getattr(s, k) for s in known) / len(known) for k in BEHAVIOUR}


def run_behaviour(run: Path) -> dict[str, Any]:
    """The ledger's record of one evaluation run (its folder read once)."""
    finished = RunReader(run, write_index=False).finished()
    replies = reply_counts(finished)
    return {
        "replies": {
            role: {**c.model_dump(), "well_formed_share": c.well_formed_share}
            for role, c in replies.items()
        },
        "behaviour": behaviour_means(finished),
    }
