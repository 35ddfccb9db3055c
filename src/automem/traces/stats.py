"""Behavioural statistics of memory use, computed from traces (the paper's measures).

Per episode: unproductive actions (invalid, or no visible effect), redundant writes (a write
that leaves the file as it was, or appends a line the file already holds), empty searches,
writes per search, reads whose result was used, tokens per step, fallbacks, model errors,
and the progress statistics loop 1's reviewer reads (reward events, longest and mean
zero-reward streak). Everything here is a pure function of the trace, and of its records'
structured fields (a search's ``matches``, a write's arguments), never of the wording of a
result: a changed message cannot change a statistic. The one exception is schema v1 traces,
whose command records have no ``matches``: their empty searches are read from the v1 wording.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from automem.memory import READ_OPS, WRITE_OPS
from automem.memory.edits import apply_mutation, one_line
from automem.traces.io import Trace, TraceError
from automem.traces.schema import CallRecord, CommandRecord, StepRecord

# A read counts as used when one of its result lines of at least this many characters shows
# up verbatim in a later model reply of the same step (a heuristic, stated as one).
USED_LINE_CHARS = 12


class EpisodeStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    episode_id: str
    env_id: str
    seed: int
    steps: int
    progression: float
    reward_events: int
    longest_zero_reward_streak: int
    invalid_actions: int
    unchanged_observations: int
    unproductive_actions: int
    fallbacks: int
    model_calls: int
    model_errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    writes: int
    redundant_writes: int
    searches: int
    empty_searches: int
    reads: int
    reads_used: int
    refused_commands: int
    # Added after the first summaries were written: a default keeps those readable.
    mean_zero_reward_streak: float = 0.0

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def unproductive_rate(self) -> float:
        return self.rate(self.unproductive_actions, self.steps)

    @property
    def redundant_write_rate(self) -> float:
        return self.rate(self.redundant_writes, self.writes)

    @property
    def empty_search_rate(self) -> float:
        return self.rate(self.empty_searches, self.searches)

    @property
    def writes_per_search(self) -> float:
        return self.rate(self.writes, self.searches)

    @property
    def read_use_rate(self) -> float:
        return self.rate(self.reads_used, self.reads)

    @property
    def fallback_rate(self) -> float:
        return self.rate(self.fallbacks, self.steps)

    @property
    def input_tokens_per_step(self) -> float:
        return self.rate(self.prompt_tokens, self.steps)

    @property
    def output_tokens_per_step(self) -> float:
        return self.rate(self.completion_tokens, self.steps)


RATES = (
    "unproductive_rate",
    "redundant_write_rate",
    "empty_search_rate",
    "writes_per_search",
    "read_use_rate",
    "fallback_rate",
    "input_tokens_per_step",
    "output_tokens_per_step",
)


def episode_stats(trace: Trace) -> EpisodeStats:
    steps = trace.of_type(StepRecord)
    commands = trace.of_type(CommandRecord)
    calls = trace.of_type(CallRecord)
    unchanged = _unchanged_after_steps(trace)
    writes, redundant = _writes(trace)
    searches = [c for c in commands if c.op == "SEARCH" and c.ok]
    reads = [c for c in commands if c.op in READ_OPS and c.ok]
    end = trace.end
    return EpisodeStats(
        episode_id=trace.header.episode_id,
        env_id=trace.header.env_id,
        seed=trace.header.seed,
        steps=len(steps),
        progression=end.progression if end else (steps[-1].progression if steps else 0.0),
        reward_events=sum(1 for s in steps if s.reward > 0),
        longest_zero_reward_streak=_longest_zero_streak(steps),
        invalid_actions=sum(1 for s in steps if not s.valid),
        unchanged_observations=sum(unchanged.get(s.step, False) for s in steps),
        unproductive_actions=sum(1 for s in steps if not s.valid or unchanged.get(s.step, False)),
        fallbacks=sum(1 for s in steps if s.fallback is not None),
        model_calls=len(calls),
        model_errors=sum(1 for c in calls if c.error is not None),
        prompt_tokens=sum(c.usage.prompt_tokens for c in calls if c.usage),
        completion_tokens=sum(c.usage.completion_tokens for c in calls if c.usage),
        cost_usd=sum(c.usage.cost_usd or 0.0 for c in calls if c.usage),
        writes=writes,
        redundant_writes=redundant,
        searches=len(searches),
        empty_searches=sum(_found_nothing(trace, c) for c in searches),
        reads=len(reads),
        reads_used=_reads_used(trace, reads),
        refused_commands=sum(1 for c in commands if not c.ok),
        mean_zero_reward_streak=_mean_zero_streak(steps),
    )


def mean_rates(stats: Sequence[EpisodeStats]) -> dict[str, float]:
    """Each rate pooled over episodes (total part / total whole), as the paper reports them."""

    def pooled(part: str, whole: str) -> float:
        total = sum(getattr(s, whole) for s in stats)
        return sum(getattr(s, part) for s in stats) / total if total else 0.0

    return {
        "unproductive_rate": pooled("unproductive_actions", "steps"),
        "redundant_write_rate": pooled("redundant_writes", "writes"),
        "empty_search_rate": pooled("empty_searches", "searches"),
        "writes_per_search": pooled("writes", "searches"),
        "read_use_rate": pooled("reads_used", "reads"),
        "fallback_rate": pooled("fallbacks", "steps"),
        "input_tokens_per_step": pooled("prompt_tokens", "steps"),
        "output_tokens_per_step": pooled("completion_tokens", "steps"),
        "model_errors": float(sum(s.model_errors for s in stats)),
        "cost_usd": sum(s.cost_usd for s in stats),
    }


def _unchanged_after_steps(trace: Trace) -> dict[int, bool]:
    """step -> whether the observation after that step's action equals the one before it."""
    texts = {o.step: o.text for o in trace.observations}
    return {step: texts[step] == texts[step + 1] for step in texts if step + 1 in texts}


def _found_nothing(trace: Trace, search: CommandRecord) -> bool:
    if search.matches is not None:
        return search.matches == 0
    if trace.header.schema_version == 1:
        return search.result.startswith("0 matches")  # v1 records: the only count is the text
    raise TraceError(
        f"episode {trace.header.episode_id}: the {search.op} record of step {search.step} "
        f"(turn {search.turn}) has no 'matches' count, which schema version "
        f"{trace.header.schema_version} traces always record; the trace is corrupt"
    )


def _writes(trace: Trace) -> tuple[int, int]:
    """(successful writes, redundant ones), replaying the journal to know each file's content."""
    files = dict(trace.header.initial_files)
    map_file = trace.header.limits.map_file
    writes = redundant = 0
    for record in trace.journal():
        if not record.ok or record.op not in WRITE_OPS or record.phase == "helper":
            continue
        name = record.file or (map_file if record.op == "UPSERT_MAP" else record.args[0])
        before = files.get(name, "")
        after = apply_mutation(record.op, record.args, before)
        writes += 1
        if record.op == "APPEND":
            line = one_line(record.args[1])
            redundant += line in before.split("\n")
        elif record.op != "CREATE":
            redundant += after == before
        files[name] = after
    return writes, redundant


def _reads_used(trace: Trace, reads: list[CommandRecord]) -> int:
    """Reads one of whose result lines reappears in a later reply of the same step."""
    order = {"log": 0, "plan": 1}
    replies: dict[int, list[tuple[tuple[int, int], str]]] = {}
    for call in trace.of_type(CallRecord):
        if call.response is not None:
            when = (order.get(call.phase, 2), call.turn)
            replies.setdefault(call.step, []).append((when, trace.messages[call.response].content))
    used = 0
    for read in reads:
        lines = [s for line in read.result.split("\n") if len(s := line.strip()) >= USED_LINE_CHARS]
        when = (order.get(read.phase, 2), read.turn)
        later = [text for at, text in replies.get(read.step, []) if at > when]
        used += any(line in text for line in lines for text in later)
    return used


def _zero_streaks(steps: list[StepRecord]) -> list[int]:
    """The lengths of the maximal runs of consecutive zero-reward steps."""
    streaks, run = [], 0
    for step in steps:
        if step.reward > 0:
            if run:
                streaks.append(run)
            run = 0
        else:
            run += 1
    return [*streaks, run] if run else streaks


def _mean_zero_streak(steps: list[StepRecord]) -> float:
    streaks = _zero_streaks(steps)
    return sum(streaks) / len(streaks) if streaks else 0.0


def _longest_zero_streak(steps: list[StepRecord]) -> int:
    best = run = 0
    for step in steps:
        run = 0 if step.reward > 0 else run + 1
        best = max(best, run)
    return best
