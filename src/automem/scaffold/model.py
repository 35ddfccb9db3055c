"""The scaffold: everything loop 1 may change about the agent's memory structure, as data.

One YAML file per scaffold, validated by :class:`Scaffold`. Two scaffolds differ by a
readable diff, never by a copied codebase.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from automem.core import Sampling
from automem.memory import MEMORY_OPS, READ_OPS, MemoryLimits, Op
from automem.memory.ops import CONTENT_WRITE_OPS

SCHEMA_VERSION = 1

LOG_ONLY_OPS = frozenset({Op.DONE})
PLAN_ONLY_OPS = frozenset({Op.ACTION})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryFile(_Strict):
    """A memory file that exists when an episode starts."""

    name: str = Field(description="File name inside the memory directory (no paths).")
    purpose: str = Field("", description="What belongs in this file; shown to the model.")
    content: str = Field("", description="Initial content (e.g. pre-filled game rules).")


class Vocabulary(_Strict):
    """Which commands the model may use in each phase."""

    log: tuple[str, ...] = Field(description="Ops allowed in LOG; must include DONE.")
    plan: tuple[str, ...] = Field(description="Ops allowed in PLAN; must include ACTION.")
    help: dict[str, str] = Field(
        default_factory=dict,
        description="Per-op help text overriding the built-in wording shown to the model.",
    )

    @field_validator("log", "plan", mode="before")
    @classmethod
    def _upper(cls, ops: Any) -> Any:
        return (
            tuple(str(op).strip().upper() for op in ops) if isinstance(ops, list | tuple) else ops
        )

    @model_validator(mode="after")
    def _check(self) -> Vocabulary:
        known = {str(op) for op in Op}
        for phase, ops in (("log", self.log), ("plan", self.plan)):
            unknown = sorted(set(ops) - known)
            if unknown:
                raise ValueError(
                    f"vocabulary.{phase}: unknown ops {unknown}; known: {sorted(known)}"
                )
            if len(set(ops)) != len(ops):
                raise ValueError(f"vocabulary.{phase}: an op is listed twice")
        if Op.DONE not in self.log:
            raise ValueError("vocabulary.log must include DONE (LOG ends with it)")
        if Op.ACTION not in self.plan:
            raise ValueError("vocabulary.plan must include ACTION (PLAN ends with it)")
        if Op.ACTION in self.log:
            raise ValueError(
                "vocabulary.log may not include ACTION: an action is committed in PLAN"
            )
        writes = {Op.APPEND, Op.WRITE, Op.CREATE, Op.UPSERT_MAP} & set(self.plan)
        if writes:
            raise ValueError(
                f"vocabulary.plan may not include {', '.join(sorted(writes))}: an outcome is "
                "written only in LOG, after the environment's response has been observed"
            )
        unknown_help = sorted(set(self.help) - known)
        if unknown_help:
            raise ValueError(f"vocabulary.help: unknown ops {unknown_help}")
        return self

    def ops(self, phase: str) -> tuple[str, ...]:
        return self.log if phase == "log" else self.plan


class Routine(_Strict):
    """Settings of the two per-step routines."""

    log_turn_cap: int = Field(10, ge=1, le=100, description="Model turns allowed in LOG.")
    plan_turn_cap: int = Field(10, ge=1, le=100, description="Model turns allowed in PLAN.")
    history_window: int = Field(
        0, ge=0, le=256, description="Recent (action, observation) pairs shown in PLAN; 0 = none."
    )
    unchanged_escalation: int = Field(
        3, ge=1, description="Repeats of an unchanged observation before the notice escalates."
    )
    on_model_error: Literal["stop", "fallback"] = Field(
        "stop",
        description="After a model call fails for good: stop the episode with the error as its "
        "stated reason, or commit the fallback action (recorded as such) and go on.",
    )
    sampling: Sampling = Sampling()
    constrained_output: bool = Field(
        False,
        description="Constrain decoding to the phase's grammar (commands ending in DONE in LOG, "
        "one valid ACTION in PLAN) where the backend supports it. The reference method ran free.",
    )
    allow_reasoning: bool = Field(
        True, description="Under constrained output, allow free text before the commands."
    )
    log_min_writes: int = Field(
        0,
        ge=0,
        le=6,
        description="Under constrained output, the first LOG turn of a step must open with "
        "this many writes (APPEND, WRITE or UPSERT_MAP) before any other command or DONE "
        "(0: it may end at once). A collection setting (loop 2): it draws memory decisions "
        "from a model that would otherwise end every LOG at once and leave memory empty; "
        "it needs constrained_output.",
    )
    plan_min_reads: int = Field(
        0,
        ge=0,
        le=3,
        description="Under constrained output, the first PLAN turn of a step must issue at "
        "least this many read commands and no ACTION (0: it may commit at once). A collection "
        "setting, like log_min_writes; it needs constrained_output.",
    )

    @model_serializer(mode="wrap")
    def _omit_unset_minimums(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Without the collection minimums a scaffold dumps (and digests) as before they
        # existed, so stored scaffolds, run directories and optimisations still match.
        data = handler(self)
        for key in ("log_min_writes", "plan_min_reads"):
            if not data.get(key):
                data.pop(key, None)
        return data


class Prompts(_Strict):
    """Jinja2 templates of the model-facing messages.

    Each phase has a system message, the first user message of a step (``*_turn``) and
    the user message that returns command results (``*_continue``).
    """

    log_system: str
    log_turn: str
    log_continue: str
    plan_system: str
    plan_turn: str
    plan_continue: str


class HelperConfig(_Strict):
    """A helper the scaffold switches on, by registered name, with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Scaffold(_Strict):
    """A complete, versioned definition of the agent's memory structure."""

    schema_version: int = SCHEMA_VERSION
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    game: str = Field(description="The game this scaffold was written for (crafter, nethack, ...).")
    description: str = ""
    parent: str | None = Field(None, description="Name of the scaffold this one was derived from.")
    files: tuple[MemoryFile, ...] = ()
    limits: MemoryLimits = MemoryLimits()
    vocabulary: Vocabulary
    routine: Routine = Routine()
    prompts: Prompts
    helpers: tuple[HelperConfig, ...] = ()

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {v} is not supported (this AutoMem reads {SCHEMA_VERSION})"
            )
        return v

    @model_validator(mode="after")
    def _check_files(self) -> Scaffold:
        from automem.memory.names import name_problem  # the one rule for file names

        names = [f.name for f in self.files]
        for name in names:
            problem = name_problem(name, self.limits.max_name_chars)
            if problem:
                raise ValueError(f"files: invalid memory file name {name!r}: {problem}")
        if len(set(names)) != len(names):
            raise ValueError("files: a memory file name is listed twice")
        if len(names) > self.limits.max_files:
            raise ValueError(
                f"files: {len(names)} files exceed limits.max_files={self.limits.max_files}"
            )
        routine, vocabulary = self.routine, self.vocabulary
        if (routine.log_min_writes or routine.plan_min_reads) and not routine.constrained_output:
            raise ValueError(
                "routine.log_min_writes and plan_min_reads act through the grammar: they need "
                "routine.constrained_output (--constrained)"
            )
        if routine.log_min_writes and not set(vocabulary.log) & CONTENT_WRITE_OPS:
            raise ValueError(
                "routine.log_min_writes needs APPEND, WRITE or UPSERT_MAP in vocabulary.log"
            )
        if routine.plan_min_reads and not set(vocabulary.plan) & READ_OPS:
            raise ValueError("routine.plan_min_reads needs a read command in vocabulary.plan")
        if Op.UPSERT_MAP in self.vocabulary.log and self.limits.map_file not in names:
            raise ValueError(
                f"UPSERT_MAP is enabled but its map file {self.limits.map_file!r} is not among the "
                "initial files"
            )
        return self

    @property
    def initial_files(self) -> dict[str, str]:
        return {f.name: f.content for f in self.files}

    @property
    def purposes(self) -> dict[str, str]:
        return {f.name: f.purpose for f in self.files}

    def digest(self) -> str:
        """A short content hash: two scaffolds with the same digest behave identically."""
        payload = self.model_dump_json(exclude={"description"}).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def memory_ops_in(ops: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(op for op in ops if op in MEMORY_OPS)
