"""Drive helpers over a real environment in the agent loop's hook order, without a model.

For unit tests of one helper on real game states; the end-to-end tests use the real loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from automem.agent import Episode
from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase, StepResult, TextEnv
from automem.memory import MemoryStore
from automem.scaffold import Scaffold
from automem.traces import Trace, TraceWriter
from tests.conftest import ListModel

# Crafter, seed 0: three trees felled, facing grass where the last one stood (3 wood).
CRAFTER_SEED = 0
THREE_WOOD = (
    "Move West",
    "Move North",
    "Move North",
    "Move North",
    "Move North",
    "Do",
    "Move West",
    "Move West",
    "Move West",
    "Do",
    "Move West",
    "Move West",
    "Do",
)


class Driver:
    """Resets ``env`` with ``seed`` and calls the helpers' hooks as ``Episode.run`` does."""

    def __init__(
        self,
        env: TextEnv,
        helpers: Sequence[Helper],
        seed: int,
        memory_dir: Path,
        initial_files: dict[str, str] | None = None,
    ) -> None:
        self.env, self.helpers = env, list(helpers)
        memory = MemoryStore(memory_dir, initial_files=initial_files or {})
        self.ctx = HelperContext(env=env, memory=memory)
        self.ctx.observation = env.reset(seed)
        for helper in self.helpers:
            helper.on_observation(self.ctx)

    def refusal(self, action: str) -> str | None:
        for helper in self.helpers:
            reason = helper.filter_action(self.ctx, action)
            if reason is not None:
                return reason
        return None

    def step(self, action: str) -> StepResult:
        result = self.env.step(action)
        for helper in self.helpers:
            helper.after_step(self.ctx, result)
        self.ctx.step += 1
        self.ctx.observation, self.ctx.last_result = result.observation, result
        self.ctx.actions.append(result.action)
        for helper in self.helpers:
            helper.on_observation(self.ctx)
        return result

    def play(self, actions: Iterable[str]) -> StepResult | None:
        result = None
        for action in actions:
            result = self.step(action)
        return result

    def context(self, phase: Phase = "plan") -> list[str]:
        return [t for h in self.helpers if (t := h.prompt_context(self.ctx, phase)) is not None]


def replies(actions: Sequence[str], logs: dict[int, str] | None = None) -> list[str]:
    """A scripted model's replies for one episode: each step's LOG (from step 1) and PLAN."""
    logs = logs or {}
    out: list[str] = []
    for step, action in enumerate(actions):
        if step > 0:
            out.append(logs.get(step, "<|DONE|>"))
        out.append(f"<|ACTION|>{action}<|END|>")
    return out


def episode(
    folder: Path, env: TextEnv, scaffold: Scaffold, seed: int, script: Sequence[str]
) -> tuple[Trace, ListModel]:
    """One real episode of ``env`` on ``seed`` with a scripted model; every reply must be used."""
    model = ListModel(script)
    folder.mkdir(parents=True, exist_ok=True)
    with TraceWriter(folder / "trace.jsonl") as trace:
        Episode(
            env=env,
            model=model,
            scaffold=scaffold,
            seed=seed,
            episode_id="e",
            memory_dir=folder / "memory",
            trace=trace,
        ).run()
    assert not model.replies, f"model replies left unused: {model.replies}"
    return Trace.read(folder / "trace.jsonl"), model
