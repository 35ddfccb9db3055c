"""The trace: one JSON Lines file per episode, one schema-versioned record per line.

A multi-turn exchange stores each message once (deduplicated by content) and each model call
refers to its prompt by message ids, so a verbatim model turn can be rebuilt for training
without storing the whole conversation per call. A reply is a ``message`` record; a system or
user message is a ``prompt`` record whose text lives in the trace's text table (``text``
records, see :mod:`automem.traces.texts`), each distinct line once. Memory files are never
snapshotted: ``command`` records are the memory journal, and :func:`automem.memory.rebuild`
replays them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from automem.core import Frozen, ModelIdentity, Sampling, Usage
from automem.memory import JournalRecord, MemoryLimits

# Version 2: command records of SEARCH and COUNT carry ``matches`` (their line count), so
# statistics never parse result text. Version 1 traces are still read; for those alone the
# statistics fall back to the v1 wording ("0 matches ...") of an empty search.
# Version 3: models by role. The header holds ``models`` (role -> identity); every call
# record says which role and model answered, its sampling, the commands allowed, whether
# decoding was constrained and whether the loop forced an ACTION-only turn. Older traces
# read with the header's one model as the ``agent`` and those call fields unknown (None).
# Version 4: system and user messages are ``prompt`` records of text-table references (each
# distinct line stored once, the step's observation referred to); replies stay ``message``
# records. Readers resolve prompts back into message records, so older traces read the same.
TRACE_SCHEMA_VERSION = 4
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
OBSERVATION_PART = "observation"


class Header(Frozen):
    type: Literal["header"] = "header"
    schema_version: int = TRACE_SCHEMA_VERSION
    episode_id: str
    env_id: str
    game: str
    seed: int
    max_steps: int
    scaffold: str
    scaffold_digest: str
    model: ModelIdentity = Field(
        description="The agent's identity; in a two-model run one naming both (backend "
        "'two-model', details by role)."
    )
    models: dict[str, ModelIdentity] = Field(
        default_factory=dict,
        description="The identity of each role's model: 'agent', or 'memory' and 'action'.",
    )
    actions: tuple[str, ...]
    default_action: str
    initial_files: dict[str, str]
    limits: MemoryLimits
    started_at: str

    @property
    def roles(self) -> dict[str, ModelIdentity]:
        """The model of each role; a trace before version 3 had one, the agent."""
        return dict(self.models) if self.models else {"agent": self.model}


class MessageRecord(Frozen):
    type: Literal["message"] = "message"
    id: int
    step: int
    phase: str
    role: str
    content: str


Part = int | Literal["observation"]
"""One part of a prompt: a text id, or the observation of the prompt's step as rendered."""


class PromptRecord(Frozen):
    """A system or user message stored as parts (version 4); read back as a MessageRecord."""

    type: Literal["prompt"] = "prompt"
    id: int
    step: int
    phase: str
    role: str
    parts: tuple[Part, ...]


class TextRecord(Frozen):
    """Lines new to the trace's text table: ``texts[i]`` has id ``first + i``."""

    type: Literal["text"] = "text"
    step: int
    first: int
    texts: tuple[str, ...]


class CallRecord(Frozen):
    """One model call: its prompt (message ids, in order), its reply, usage or error.

    Since version 3 it also says who answered and under what terms; the fields are None in
    older traces, where the header's one model answered every call.
    """

    type: Literal["call"] = "call"
    step: int
    phase: str
    turn: int
    prompt: tuple[int, ...]
    role: str | None = Field(None, description="'agent', 'memory' or 'action'.")
    model: str | None = Field(None, description="The answering model's spec (header.models).")
    sampling: Sampling | None = None
    allowed_ops: tuple[str, ...] | None = Field(None, description="The commands allowed.")
    constrained: bool | None = Field(
        None,
        description="Whether decoding was constrained to the command grammar (the backend's "
        "account; None when the call failed or the backend does not say).",
    )
    forced_action: bool | None = Field(
        None, description="The loop allowed ACTION only: PLAN's last turn."
    )
    response: int | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_kind: str | None = None
    normalisations: tuple[str, ...] = ()


class CommandRecord(Frozen):
    """One command the model issued, with the result it was shown (the memory journal)."""

    type: Literal["command"] = "command"
    step: int
    phase: str
    turn: int
    op: str
    args: tuple[str, ...]
    ok: bool
    result: str
    file: str | None = None
    size_before: int | None = None
    size_after: int | None = None
    matches: int | None = None

    @classmethod
    def from_journal(cls, record: JournalRecord, turn: int) -> CommandRecord:
        return cls(turn=turn, **record.model_dump())

    def to_journal(self) -> JournalRecord:
        return JournalRecord(**self.model_dump(exclude={"type", "turn"}))


class ObservationRecord(Frozen):
    """The observation the agent sees at the start of ``step``."""

    type: Literal["observation"] = "observation"
    step: int
    text: str
    short_term: str = ""


class StepRecord(Frozen):
    type: Literal["step"] = "step"
    step: int
    proposed: str | None = Field(
        None, description="The action text the model committed; None on fallback."
    )
    action: str = Field(description="The action the environment executed.")
    valid: bool
    fallback: str | None = Field(None, description="Why the fallback action was used, if it was.")
    reward: float
    progression: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = Field(default_factory=dict)


class EventRecord(Frozen):
    """Anything else worth knowing: notices shown, caps hit, commands ignored, helper verdicts."""

    type: Literal["event"] = "event"
    step: int
    kind: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class EpisodeTotals(BaseModel):
    """Running counts of an episode (mutable while it runs, then stored with its end)."""

    model_config = ConfigDict(extra="forbid")

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    model_latency_s: float = 0.0
    cost_usd: float = 0.0
    commands: int = 0
    refused_commands: int = 0
    fallbacks: int = 0
    invalid_actions: int = 0
    model_errors: int = 0


class EpisodeOutcome(Frozen):
    """How an episode ended; shared by the trace's end record and the run's episode summary."""

    status: Literal["finished", "stopped", "error"]
    reason: str
    steps: int
    episode_return: float
    progression: float
    totals: EpisodeTotals
    duration_s: float


class EndRecord(EpisodeOutcome):
    type: Literal["end"] = "end"
    finished_at: str


TraceRecord = Annotated[
    Header
    | MessageRecord
    | PromptRecord
    | TextRecord
    | CallRecord
    | CommandRecord
    | ObservationRecord
    | StepRecord
    | EventRecord
    | EndRecord,
    Field(discriminator="type"),
]
TRACE_RECORD = TypeAdapter(TraceRecord)
