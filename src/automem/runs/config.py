"""The configuration of a run: what to play, with which agent, on which seeds."""

from __future__ import annotations

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

from automem.models.roles import RoleSpecs

SEED_SYNTAX = "use a number, a list '42,43' or a range '42-51'"


class TaskConfig(BaseModel):
    """One environment of a run: its seeds (one episode each), step cap and scaffold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field(
        description="Environment id, e.g. 'crafter' or 'minihack/MiniHack-Quest-Easy-v0'."
    )
    seeds: tuple[int, ...] = Field(min_length=1, description="One episode per seed.")
    max_steps: int | None = Field(
        None, ge=1, description="Step cap per episode (default: the env's)."
    )
    scaffold: str | None = Field(
        None, description="Built-in scaffold name or YAML path (default: the game's v0 scaffold)."
    )

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_syntax(cls, seeds: Any) -> Any:
        # A suite file may write seeds as on the command line: 42, "42-46", "1,5-7", or a
        # list mixing numbers and such strings; one parser serves both.
        if isinstance(seeds, list | tuple):
            return tuple(s for item in seeds for s in _seed_item(item))
        return _seed_item(seeds)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct: one episode per seed")
        return seeds

    @property
    def scaffold_ref(self) -> str:
        from automem.scaffold import default_for_game

        return self.scaffold or default_for_game(self.env)


class SkippedTask(BaseModel):
    """A task of the suite left out of the run, and why (e.g. its data set is missing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str
    reason: str


class Component(BaseModel):
    """A user-registered helper, model backend or environment a run uses, and where it lives.

    Worker processes start with only the built-in registrations; they register each component
    again from ``ref`` (``"module:qualname"``, or an environment's own entry point string).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["helper", "backend", "env"]
    name: str
    ref: str
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="An environment's registered keyword arguments."
    )


class RoutineOverrides(BaseModel):
    """Routine settings a run imposes on every scaffold; None keeps the scaffold's.

    They are loop 2's collection settings: a floor of memory commands in the first LOG and
    PLAN turn under constrained decoding, and the sampling temperature. The run stores its
    scaffolds as changed, so run.json and the scaffold copies say what was used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_min_writes: int | None = Field(
        None, ge=0, le=6, description="routine.log_min_writes (see the scaffold schema)."
    )
    plan_min_reads: int | None = Field(
        None, ge=0, le=3, description="routine.plan_min_reads (see the scaffold schema)."
    )
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="routine.sampling.temperature."
    )

    @property
    def empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class RunConfig(BaseModel):
    """Everything that determines a run's episodes. Stored in run.json; a resumed run must match.

    A single-task run may be written flat: ``RunConfig(env=..., model=..., seeds=...,
    max_steps=..., scaffold=...)`` is the same as one entry in ``tasks``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        description="Model spec, e.g. 'scripted' or 'openai:gpt-4o', or models by role: "
        "'memory=<spec>;action=<spec>' (automem.models.roles)."
    )
    tasks: tuple[TaskConfig, ...] = Field(min_length=1)
    constrained_output: bool | None = Field(
        None,
        description="Override every scaffold's routine.constrained_output (None keeps theirs); "
        "the run stores the scaffolds as changed.",
    )
    routine: RoutineOverrides = Field(
        RoutineOverrides(),
        description="Routine settings overriding every scaffold's (loop 2's collection).",
    )
    skipped: tuple[SkippedTask, ...] = Field(
        (), description="Tasks of the suite not run (eval --skip-missing), with the reason."
    )
    plugins: tuple[str, ...] = Field(
        (),
        description="Modules ('pkg.mod') or Python files ('path/file.py') imported before the "
        "run and in every worker first; importing them may register components.",
    )
    components: tuple[Component, ...] = Field(
        (),
        description="The user-registered components the run uses, recorded at run start so "
        "that every worker can register them again.",
    )

    @model_serializer(mode="wrap")
    def _omit_empty_extras(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A run without skipped tasks or plugins stores the same run.json config as before these
        # fields existed, so older run directories still resume (resume compares the config).
        data = handler(self)
        for key in ("skipped", "plugins", "components"):
            if not data.get(key):
                data.pop(key, None)
        if self.routine.empty:
            data.pop("routine", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _single_task_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "env" in data:
            data = dict(data)
            task = {k: data.pop(k) for k in ("env", "seeds", "max_steps", "scaffold") if k in data}
            data["tasks"] = (task,)
        return data

    @field_validator("model")
    @classmethod
    def _model_roles(cls, model: str) -> str:
        # The two-model form is stored canonically; a one-model spec stays exactly as given,
        # so older run directories resume.
        return RoleSpecs.parse(model).text

    @property
    def roles(self) -> RoleSpecs:
        """The model spec of each role: ``agent``, or ``memory`` and ``action``."""
        return RoleSpecs.parse(self.model)

    @field_validator("tasks")
    @classmethod
    def _distinct_envs(cls, tasks: tuple[TaskConfig, ...]) -> tuple[TaskConfig, ...]:
        envs = [t.env for t in tasks]
        if len(set(envs)) != len(envs):
            raise ValueError("each environment may appear in one task only")
        return tasks

    @property
    def episodes(self) -> int:
        return sum(len(t.seeds) for t in self.tasks)


def _seed_item(item: Any) -> tuple[int, ...]:
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise ValueError(f"bad seeds {item!r}: {SEED_SYNTAX}")
    return parse_seeds(str(item))


def parse_seeds(text: str, episodes: int | None = None) -> tuple[int, ...]:
    """Seeds from '42', '42,43', '42-51' or a mix ('1,5-7').

    A single seed S with ``episodes`` N means S..S+N-1; a list must then have N seeds.
    """
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, dash, high = part.partition("-")
        try:
            if dash and low:
                a, b = int(low), int(high)
                if b < a:
                    raise ValueError(f"seed range {part!r} runs backwards")
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError as exc:
            if "backwards" in str(exc):
                raise
            raise ValueError(f"bad seed {part!r}: {SEED_SYNTAX}") from None
    if not seeds:
        raise ValueError("no seeds given")
    if episodes is not None:
        if episodes < 1:
            raise ValueError("--episodes must be at least 1")
        if len(seeds) == 1:
            seeds = list(range(seeds[0], seeds[0] + episodes))
        elif len(seeds) != episodes:
            raise ValueError(f"--episodes {episodes} does not match the {len(seeds)} seeds given")
    return tuple(seeds)
