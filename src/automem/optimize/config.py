"""What an optimisation is asked to do: :class:`OptimizeConfig`, stored in its directory.

A resumed optimisation must have the same config, except for the fields in
:data:`MAY_CHANGE_ON_RESUME` (how fast and how far it runs: workers, budgets, versions).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from automem.core import Frozen
from automem.optimize.gate import Acceptance, MeanGain, PairedGain
from automem.optimize.review import ReviewLimits
from automem.optimize.seeds import split_seeds
from automem.runs.config import TaskConfig

MAY_CHANGE_ON_RESUME = frozenset({"workers", "executor", "budget", "versions"})


class MeanRule(Frozen):
    """The reference rule: strictly higher mean progression on the gate seeds."""

    kind: Literal["mean"] = "mean"

    def build(self) -> Acceptance:
        return MeanGain()


class PairedRule(Frozen):
    """Paired bootstrap over (task, seed): the lower bound of the gain above ``min_gain``."""

    kind: Literal["paired"] = "paired"
    min_gain: float = Field(0.0, ge=-1.0, le=1.0, description="Gain the lower bound must exceed.")
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
    resamples: int = Field(10_000, ge=100)
    seed: int = 0

    def build(self) -> Acceptance:
        return PairedGain(
            min_gain=self.min_gain,
            confidence=self.confidence,
            resamples=self.resamples,
            seed=self.seed,
        )


class ParetoRule(Frozen):
    """A per-(task, seed) front of versions: accepted when strictly best on one instance;
    each fresh attempt's parent is sampled from the front, weighted by its best instances."""

    kind: Literal["pareto"] = "pareto"


Rule = Annotated[MeanRule | PairedRule | ParetoRule, Field(discriminator="kind")]


class OptimizeBudget(Frozen):
    """Caps over the whole optimisation (every invocation together); None = no cap."""

    max_review_cost_usd: float | None = Field(None, gt=0, description="Reviewer sessions, USD.")
    max_review_tokens: int | None = Field(None, gt=0, description="Reviewer sessions, tokens.")
    max_episodes: int | None = Field(None, gt=0, description="Evaluation episodes played.")
    max_wall_s: float | None = Field(None, gt=0, description="Wall time, seconds.")


class OptimizeConfig(Frozen):
    """Everything that determines an optimisation (loop 1)."""

    suite: str | None = Field(None, description="The suite the tasks came from (a label).")
    tasks: tuple[TaskConfig, ...] = Field(min_length=1, description="Tasks and all their seeds.")
    scaffold: str = Field(description="The start scaffold: a built-in name or a YAML path.")
    model: str = Field(description="The agent's model spec.")
    reviewer: str = Field(description="'rules', or the reviewer model's spec.")
    compact_review: bool = Field(
        False, description="Model reviewers run the short session meant for small local models."
    )
    versions: int = Field(5, ge=1, description="Rounds, each trying to produce one version.")
    fresh_attempts: int = Field(3, ge=1, description="Fresh reviewer attempts per round.")
    continuations: int = Field(
        1, ge=0, description="Continuations after a fresh attempt whose candidate was refused."
    )
    acceptance: Rule = MeanRule()
    screen_size: int = Field(
        3, ge=0, description="(task, seed) instances of the cheap screen; 0 = no screening."
    )
    gate_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="Share of seeds that gate.")
    gate_seeds: tuple[int, ...] | None = Field(
        None, description="These seeds gate (per task); the others are held out for the report."
    )
    split_seed: int = Field(0, description="Shuffle seed of the gate/held-out split.")
    reuse_gate_seeds: bool = Field(
        False, description="Report on the gate seeds (the reference protocol); no held-out seeds."
    )
    max_steps: int | None = Field(None, ge=1, description="Cap on every task's episodes.")
    constrained_output: bool | None = None
    plugins: tuple[str, ...] = Field((), description="Plugins of every evaluation run.")
    workers: int = Field(1, ge=1)
    executor: Literal["local", "thread"] = "local"
    budget: OptimizeBudget = OptimizeBudget()
    allow_code: bool = Field(False, description="Reviewers may add helpers as Python source.")
    review: ReviewLimits = ReviewLimits()
    seed: int = Field(0, description="Seeds screening subsets and Pareto parent sampling.")

    @model_validator(mode="after")
    def _check(self) -> OptimizeConfig:
        if len({t.env for t in self.tasks}) != len(self.tasks):
            raise ValueError("tasks: each environment may appear in one task only")
        games = {t.env.split("/", 1)[0] for t in self.tasks}
        if len(games) != 1:
            raise ValueError(
                f"tasks: an optimisation improves the scaffold of one game, got {sorted(games)}; "
                "optimise each game on its own"
            )
        self.split()  # a bad seed split fails here, naming the task
        return self

    @property
    def game(self) -> str:
        return self.tasks[0].env.split("/", 1)[0]

    def _capped(self, task: TaskConfig, seeds: tuple[int, ...]) -> TaskConfig:
        cap = task.max_steps
        if self.max_steps is not None:
            cap = min(cap or self.max_steps, self.max_steps)
        return task.model_copy(update={"seeds": seeds, "max_steps": cap, "scaffold": None})

    def split(self) -> tuple[tuple[TaskConfig, ...], tuple[TaskConfig, ...]]:
        """(gate tasks, held-out tasks): each task's seeds split disjointly (split_seeds);
        with ``reuse_gate_seeds`` every seed gates and nothing is held out."""
        gate: list[TaskConfig] = []
        held: list[TaskConfig] = []
        for task in self.tasks:
            if self.reuse_gate_seeds:
                gate.append(self._capped(task, task.seeds))
                continue
            try:
                parts = split_seeds(
                    task.seeds,
                    self.gate_fraction,
                    gate=self.gate_seeds,
                    shuffle_seed=self.split_seed,
                )
            except ValueError as exc:
                raise ValueError(f"task {task.env}: {exc}") from None
            gate.append(self._capped(task, parts.gate))
            held.append(self._capped(task, parts.report))
        return tuple(gate), tuple(held)

    def comparable(self) -> dict[str, object]:
        """The fields a resumed optimisation must match, as JSON."""
        return self.model_dump(mode="json", exclude=set(MAY_CHANGE_ON_RESUME))
