"""The core protocols of AutoMem: text environments and chat models.

Everything else plugs into these two small interfaces:

* a :class:`TextEnv` turns a game into ``reset(seed) -> Observation`` and
  ``step(action_text) -> StepResult`` with a progression value in [0, 1];
* a :class:`ChatModel` turns a :class:`CompletionRequest` (messages plus what the
  agent may say in this phase) into a :class:`Completion` with its usage; backends with
  tool calling also turn a ``ChatRequest`` (tools offered) into a ``ChatReply`` (text and
  tool calls), whose types are in :mod:`automem.models.chat`.

The memory store (``automem.memory``) and scaffold helpers (``automem.agent.helpers``)
have their own modules because they carry more machinery.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the tool-calling types build on the ones below
    from automem.models.chat import ChatReply, ChatRequest

Phase = Literal["log", "plan"]
Role = Literal["system", "user", "assistant"]


class Frozen(BaseModel):
    """Base for immutable, validated value objects."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- environments


class ActionSpec(Frozen):
    """One game action the model may commit, with a short description for prompts."""

    name: str
    description: str = ""


# Observation and StepResult are made thousands of times a second by the environments, so
# they are slotted dataclasses checked by hand: pydantic validation of the two cost about
# 12 us per step in a NetHack run, a tenth of the step.


@dataclass(frozen=True, slots=True)
class Observation:
    """A text observation.

    ``text`` is the long-term part (the view of the world); ``short_term`` holds context
    that is only relevant now (e.g. NetHack's inventory), shown beside it but never
    treated as a change of the world.
    """

    text: str
    short_term: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not isinstance(self.short_term, str):
            raise TypeError(
                "Observation text and short_term must be str, got "
                f"{type(self.text).__name__} and {type(self.short_term).__name__}"
            )

    def render(self) -> str:
        return f"{self.text}\n\n{self.short_term}".strip() if self.short_term else self.text


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one environment step returns.

    ``progression`` is the benchmark progression so far, in [0, 1]; ``action`` the action
    actually executed (the default if the proposed text was invalid) and ``valid`` whether
    the proposed text was a valid action. Numbers and flags are stored as plain float and
    bool, whatever numeric types the environment used.
    """

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    progression: float
    action: str
    valid: bool
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.observation, Observation):
            raise TypeError(
                f"StepResult.observation must be an Observation, got "
                f"{type(self.observation).__name__}"
            )
        if not isinstance(self.action, str):
            raise TypeError(f"StepResult.action must be str, got {type(self.action).__name__}")
        if not isinstance(self.info, dict):
            raise TypeError(f"StepResult.info must be a dict, got {type(self.info).__name__}")
        progression = float(self.progression)
        if not 0.0 <= progression <= 1.0:
            raise ValueError(f"StepResult.progression must be in [0, 1], got {self.progression}")
        store = object.__setattr__  # frozen: the checked values are stored once, here
        store(self, "progression", progression)
        store(self, "reward", float(self.reward))
        store(self, "terminated", bool(self.terminated))
        store(self, "truncated", bool(self.truncated))
        store(self, "valid", bool(self.valid))

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class MissingData(Frozen):
    """A data set an environment needs that is not on this machine, and how to get it."""

    data: str = Field(description="What is missing, e.g. 'the Boxoban level files'.")
    looked: str = Field("", description="Where it was looked for.")
    fix: str = Field(description="How to get it: one sentence, no line breaks.")

    def message(self, envs: str, *, several: bool = False) -> str:
        """One line: ``envs`` need(s) the data (where it was looked for), then the fix."""
        where = f" (looked in {self.looked})" if self.looked else ""
        return f"{envs} need{'' if several else 's'} {self.data}{where}. {self.fix}"


class TextEnv(abc.ABC):
    """A game seen through text. Subclasses set the class attributes and implement three methods.

    ``reset(seed)`` must fully determine the episode: the same seed and the same actions give
    the same observations, rewards and progression.
    """

    env_id: str
    game: str
    actions: tuple[ActionSpec, ...]
    default_action: str
    max_steps: int  # the game's own episode length (the protocol's), shown to the model

    @property
    def title(self) -> str:
        """The game's name in prompts; a subclass may set ``title = "NetHack"`` instead."""
        return self.game.replace("_", " ").title()

    @abc.abstractmethod
    def reset(self, seed: int) -> Observation: ...

    @abc.abstractmethod
    def step(self, action: str) -> StepResult: ...

    @property
    @abc.abstractmethod
    def progression(self) -> float: ...

    @classmethod
    def missing_data(cls, **kwargs: Any) -> MissingData | None:
        """The data set this env (made with ``kwargs``) needs and cannot find, else None.

        Checked before a run writes anything, so a missing download fails in one line
        instead of in every episode. Envs that need no data keep this default.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the default has none."""

    def position(self) -> tuple[int, int] | None:
        """The player's ``(x, y)`` on the current map (x grows east, y south), or None.

        Optional: helpers that track movement (``position_tracker``) read it. An env without
        a notion of position keeps this default.
        """
        return None

    def level(self) -> str | None:
        """Which map :meth:`position` is on (e.g. NetHack's dungeon level), or None.

        Optional: None means a single map for the whole episode.
        """
        return None

    @property
    def action_names(self) -> list[str]:
        return [a.name for a in self.actions]

    def parse_action(self, text: str) -> str | None:
        """The canonical action name for ``text`` (case and spacing forgiven), or None."""
        wanted = " ".join(text.split()).lower()
        for name in self.action_names:
            if name.lower() == wanted:
                return name
        return None


# --------------------------------------------------------------------------- models


class Message(Frozen):
    role: Role
    content: str


class Sampling(Frozen):
    """Sampling settings a scaffold chooses; backends map them to their API."""

    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(512, ge=1, description="Cap on generated tokens per model turn.")


class CompletionRequest(Frozen):
    """One model call of the agent.

    Besides the messages, it says what the agent may answer in this phase: backends that
    constrain decoding compile ``allowed_ops`` and ``actions`` into a grammar, and the
    scripted test model plays from them.
    """

    messages: tuple[Message, ...]
    phase: Phase
    allowed_ops: tuple[str, ...]
    actions: tuple[str, ...]
    memory_files: tuple[str, ...] = ()
    empty_files: tuple[str, ...] = Field(
        (),
        description="Memory files that hold nothing. Under constraint no read names them (the "
        "prompt shows their size already), and a phase with nothing to read offers no reads.",
    )
    sampling: Sampling = Sampling()
    constrained: bool = Field(
        False, description="Ask the backend to constrain decoding to the phase's command grammar."
    )
    reasoning: bool = Field(
        True, description="Under constraint, allow free text before and between the commands."
    )
    min_commands: int = Field(
        0,
        ge=0,
        description="Under constraint, the floor of commands the reply must issue: in LOG, "
        "writes opening the reply; in PLAN, reads instead of an ACTION (routine.log_min_writes, "
        "plan_min_reads).",
    )
    seed: int | None = Field(None, description="Per-call seed, for backends that support it.")


class Usage(Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None


class Completion(Frozen):
    text: str
    usage: Usage = Usage()
    finish_reason: str = "stop"
    constrained: bool | None = Field(
        None,
        description="Whether decoding was constrained to the request's grammar; None when the "
        "backend does not say.",
    )


class ModelIdentity(Frozen):
    """What a run records about the model that produced it."""

    spec: str = Field(description="The spec the user gave, e.g. 'scripted' or 'openai:gpt-4o'.")
    backend: str
    name: str
    details: dict[str, Any] = Field(default_factory=dict)


class ModelError(RuntimeError):
    """A model call that failed for good (after retries); recorded in the trace, never hidden."""

    def __init__(self, message: str, *, kind: str = "error", retryable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class ChatModel(abc.ABC):
    """A chat model. Implementations must be safe to call from one thread at a time per instance.

    A ``shareable`` model is thread-safe and holds no per-episode state (e.g. a connection
    pool to a server): episodes running as threads then share one instance, and so its
    connection cap.
    """

    identity: ModelIdentity
    shareable: ClassVar[bool] = False

    @abc.abstractmethod
    def complete(self, request: CompletionRequest) -> Completion: ...

    def chat(self, request: ChatRequest) -> ChatReply:
        """One tool-calling call; backends without tool calling keep this default, which fails."""
        raise ModelError(
            f"backend {self.identity.backend!r} ({self.identity.spec}) has no tool calling; "
            "use an openai, anthropic or local model, or ScriptedChatModel in tests",
            kind="unsupported",
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the default has none."""
