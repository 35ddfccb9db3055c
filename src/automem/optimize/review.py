"""What loop 1 asks of a reviewer, and what a reviewer gives back.

The optimiser (:mod:`automem.optimize.search`) hands a :class:`ReviewContext` to a
:class:`Reviewer` together with the attempt's own directory; the reviewer reads the parent's
evaluation runs and the lineage (never anything else), writes only inside that directory (its
transcript), and returns a :class:`ReviewOutcome`: a proposal that passed
:func:`automem.optimize.check_proposal`, or the reason it has none. Two reviewers implement
it: an LLM session with read-only tools (:mod:`automem.optimize.reviewer`) and one that
composes a change from the helper catalogue by rules (:mod:`automem.optimize.rules`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field

from automem.core import Frozen, Usage

AttemptKind = Literal["fresh", "continuation"]
Verdict = Literal["accepted", "rejected", "invalid", "failed"]


class EarlierAttempt(Frozen):
    """What a reviewer may know of one earlier attempt of the optimisation."""

    id: str = Field(description="The attempt's folder name, e.g. 'v1-a2'.")
    version: int = Field(ge=1, description="The version it tried to produce.")
    kind: AttemptKind
    parent: str = Field(description="Name of the scaffold it revised.")
    candidate: str | None = Field(None, description="Its candidate's name; None if none passed.")
    description: str = ""
    verdict: Verdict
    reason: str = Field(description="One line: why it was accepted, rejected, invalid, failed.")
    scores: dict[str, float] = Field(
        default_factory=dict, description="e.g. screen/gate/held-out means of parent and child."
    )
    diff: str = Field("", description="Unified diff of the candidate against its parent.")


class FailedCandidate(Frozen):
    """For a continuation: the candidate it continues from, with its evidence."""

    attempt: str
    scaffold_text: str
    diff: str
    scores: dict[str, float]
    runs: tuple[Path, ...] = Field(description="The candidate's evaluation run directories.")


class ReviewLimits(Frozen):
    """Caps on one review session; hitting one ends it without a proposal."""

    max_turns: int = Field(40, ge=1, description="Model calls in the session.")
    max_tokens: int = Field(400_000, ge=1, description="Prompt plus completion tokens.")
    max_cost_usd: float | None = Field(None, ge=0, description="None = no cost cap.")
    max_submissions: int = Field(3, ge=1, description="Submit calls checked before giving up.")


class ReviewContext(Frozen):
    """Everything a reviewer may use for one attempt."""

    game: str
    objective: str = Field(description="The game's objective and the method's constraints.")
    parent_text: str = Field(description="The parent scaffold, normalised YAML (scaffold.dump).")
    parent_runs: tuple[Path, ...] = Field(
        description="The parent's evaluation run directories (gate seeds only: never held-out)."
    )
    earlier: tuple[EarlierAttempt, ...] = ()
    earlier_candidates: tuple[str, ...] = Field(
        (), description="Scaffold texts of every earlier candidate (for near-duplicate checks)."
    )
    continuation_of: FailedCandidate | None = None
    allow_code: bool = False
    limits: ReviewLimits = ReviewLimits()


class ReviewOutcome(Frozen):
    """A checked proposal (``scaffold_text`` set) or the reason there is none (``failure``)."""

    scaffold_text: str | None = Field(
        None, description="The candidate's whole normalised YAML, after check_proposal passed."
    )
    analysis: str = ""
    description: str = ""
    failure: str | None = Field(None, description="One line: no submit, caps hit, all invalid.")
    code_files: tuple[str, ...] = Field(
        (), description="Python files the reviewer wrote in its attempt folder (--allow-code)."
    )
    usage: Usage = Usage()
    turns: int = 0


class Reviewer(Protocol):
    """Proposes one revision of ``context``'s parent; writes only under ``attempt_dir``."""

    name: str

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome: ...
