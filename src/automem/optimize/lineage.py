"""The lineage of an optimisation: every version and every attempt, as one versioned JSON file.

``lineage.json`` is the optimisation's state as well as its record: each stage of an attempt
(review, screen, gate, held-out) is written here when it ends, so a resumed optimisation knows
what is done. Readers (the report, the reviewer's lineage tool) use :func:`read_lineage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from automem.core import Usage
from automem.optimize.review import AttemptKind, Verdict
from automem.runs.directory import write_json_atomic

LINEAGE_SCHEMA_VERSION = 1
Stage = Literal["screen", "gate", "heldout"]
Status = Literal["running", "finished", "stopped", "budget"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageRecord(_Record):
    """One evaluation run of a scaffold (a real run directory) and what it scored."""

    stage: Stage
    run: str = Field(description="The run directory, relative to the optimisation directory.")
    episodes: int = Field(description="Episodes in the run, finished or not.")
    finished: int
    mean: float | None = Field(None, description="Mean progression of the finished episodes.")
    se: float | None = None
    valid: bool
    reasons: list[str] = Field(default_factory=list, description="Why it is invalid, if so.")
    agent_tokens: int = 0
    agent_cost_usd: float = 0.0


class DecisionRecord(_Record):
    accepted: bool
    rule: str
    reason: str
    statistics: dict[str, float] = Field(default_factory=dict)


class AttemptRecord(_Record):
    id: str
    version: int = Field(ge=1, description="The version slot (round) it tried to fill.")
    kind: AttemptKind
    parent: str = Field(description="Name of the scaffold it revised.")
    parent_version: int
    continuation_of: str | None = None
    status: Literal["reviewing", "evaluating", "done"] = "reviewing"
    verdict: Verdict | None = None
    ended_at_stage: Literal["review", "check", "screen", "gate"] | None = None
    reason: str = ""
    candidate: str | None = None
    description: str = ""
    changes: list[str] = Field(default_factory=list)
    code_files: list[str] = Field(
        default_factory=list, description="Helper source files (--allow-code), relative paths."
    )
    review_usage: Usage = Usage()
    interrupted_usage: Usage = Field(
        Usage(),
        description="What review sessions killed before their end spent (read from their "
        "set-aside transcripts); the budgets count it.",
    )
    review_turns: int = 0
    screen: StageRecord | None = None
    screen_decision: DecisionRecord | None = None
    gate: StageRecord | None = None
    decision: DecisionRecord | None = None
    heldout: StageRecord | None = None

    @property
    def episodes(self) -> int:
        return sum(s.episodes for s in (self.screen, self.gate, self.heldout) if s is not None)

    @property
    def review_tokens(self) -> int:
        spent = (self.review_usage, self.interrupted_usage)
        return sum(u.prompt_tokens + u.completion_tokens for u in spent)

    @property
    def review_cost_usd(self) -> float | None:
        """USD of every session of this attempt; None when no session reported a cost."""
        costs = [u.cost_usd for u in (self.review_usage, self.interrupted_usage)]
        known = [c for c in costs if c is not None]
        return sum(known) if known else None


class VersionRecord(_Record):
    version: int = Field(ge=0)
    scaffold: str
    file: str = Field(description="Its scaffold file, relative to the optimisation directory.")
    attempt: str | None = Field(None, description="The attempt that produced it; None for v0.")
    parent: str | None = None
    gate: StageRecord
    heldout: StageRecord | None = None
    plugins: list[str] = Field(
        default_factory=list,
        description="Helper source files its runs load (its own and its ancestors'): a code "
        "version when not empty.",
    )


class Lineage(_Record):
    schema_version: Literal[1] = LINEAGE_SCHEMA_VERSION
    status: Status = "running"
    reason: str = ""
    versions: list[VersionRecord] = Field(default_factory=list)
    attempts: list[AttemptRecord] = Field(default_factory=list)
    abandoned: list[int] = Field(
        default_factory=list, description="Version slots whose attempts were all refused."
    )
    elapsed_s: float = Field(0.0, description="Wall time of every finished invocation.")

    def attempt(self, attempt_id: str) -> AttemptRecord | None:
        return next((a for a in self.attempts if a.id == attempt_id), None)

    def put(self, record: AttemptRecord) -> None:
        """Add an attempt or replace the record with the same id."""
        for i, known in enumerate(self.attempts):
            if known.id == record.id:
                self.attempts[i] = record
                return
        self.attempts.append(record)

    def version(self, name: str) -> VersionRecord:
        for v in self.versions:
            if v.scaffold == name:
                return v
        raise KeyError(f"no version is scaffold {name!r}")

    def best(self, by_mean: bool) -> VersionRecord | None:
        """The latest version (each one beat its parent), or with ``by_mean`` the one with
        the highest gate mean (a Pareto front's members need not beat each other)."""
        if not self.versions:
            return None
        if not by_mean:
            return self.versions[-1]
        return max(self.versions, key=lambda v: (v.gate.mean or 0.0, -v.version))

    @property
    def review_tokens(self) -> int:
        return sum(a.review_tokens for a in self.attempts)

    @property
    def review_cost_usd(self) -> float:
        return sum(a.review_cost_usd or 0.0 for a in self.attempts)

    @property
    def episodes(self) -> int:
        baseline = self.versions[0] if self.versions else None
        own = 0
        if baseline is not None and baseline.attempt is None:
            own = baseline.gate.episodes + (baseline.heldout.episodes if baseline.heldout else 0)
        return own + sum(a.episodes for a in self.attempts)


class LineageError(ValueError):
    """A lineage file that cannot be read; the message names the file and the field."""


def read_lineage(path: Path) -> Lineage:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LineageError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return Lineage.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise LineageError(f"{path}: not a valid lineage ({where}: {first['msg']})") from None


def write_lineage(path: Path, lineage: Lineage) -> None:
    write_json_atomic(path, lineage)
