"""What an optimisation has spent, against its budget, and the safe points where it may stop.

Budgets count the whole optimisation, every invocation together: reviewer tokens and cost
(from the attempts' review usage), evaluation episodes (episodes in the stage run
directories) and wall time (finished invocations plus this one). An evaluation is not started
when its episodes would overrun the episode budget; wall time and the stop file are also
checked after every episode, so a long gate stops at the next episode's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from automem.optimize.config import OptimizeBudget
from automem.optimize.layout import OptDir
from automem.optimize.lineage import Lineage


class Halt(Exception):
    """Raised at a safe point to end the optimisation cleanly: ``kind`` says why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # "stopped" (the stop file) or "budget"
        self.reason = reason


@dataclass
class Spend:
    budget: OptimizeBudget
    opt: OptDir
    lineage: Lineage
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.base = self.lineage.elapsed_s  # earlier invocations' wall time

    def elapsed(self) -> float:
        return self.base + (self.clock() - self.started)

    def check_time(self) -> None:
        """A safe point inside an evaluation: the stop file and the wall time."""
        if self.opt.stop_requested():
            self.opt.consume_stop()
            raise Halt("stopped", "the STOP file asked to stop (it was removed)")
        b = self.budget
        if b.max_wall_s is not None and self.elapsed() >= b.max_wall_s:
            raise Halt(
                "budget", f"wall-time budget spent ({self.elapsed():.0f} of {b.max_wall_s:.0f} s)"
            )

    def check_review(self, first_stage: int) -> None:
        """Before a review session: no reviewer budget may be spent, and the episode budget
        must still hold the candidate's first evaluation (``first_stage`` episodes), or the
        session would be wasted."""
        self.check_time()
        b, lineage = self.budget, self.lineage
        if b.max_review_tokens is not None and lineage.review_tokens >= b.max_review_tokens:
            raise Halt(
                "budget",
                f"reviewer token budget spent ({lineage.review_tokens} of "
                f"{b.max_review_tokens} tokens)",
            )
        cost = lineage.review_cost_usd
        if b.max_review_cost_usd is not None and cost >= b.max_review_cost_usd:
            raise Halt(
                "budget",
                f"reviewer cost budget spent (${cost:.4f} of ${b.max_review_cost_usd:.4f})",
            )
        if b.max_episodes is not None and lineage.episodes + first_stage > b.max_episodes:
            raise Halt(
                "budget",
                f"episode budget spent ({lineage.episodes} of {b.max_episodes} episodes; a "
                f"candidate's first evaluation needs {first_stage})",
            )

    def check_episodes(self, needed: int, what: str) -> None:
        """Before an evaluation: refuse to start one whose ``needed`` episodes overrun the
        episode budget (a half-run gate decides nothing)."""
        self.check_time()
        cap = self.budget.max_episodes
        if needed and cap is not None and self.lineage.episodes + needed > cap:
            left = cap - self.lineage.episodes
            raise Halt(
                "budget",
                f"episode budget: {what} needs {needed} episode(s), {left} of {cap} left",
            )

    def review_caps(self) -> tuple[int | None, float | None]:
        """What is left of the reviewer budgets (tokens, USD) for the next session."""
        b, lineage = self.budget, self.lineage
        tokens = (
            None if b.max_review_tokens is None else b.max_review_tokens - lineage.review_tokens
        )
        cost = None
        if b.max_review_cost_usd is not None:
            cost = b.max_review_cost_usd - lineage.review_cost_usd
        return tokens, cost
