"""A test model with one bad memory habit, to make real traces that trigger one rule each.

``habit:NAME`` plays NAME every step: deterministic, no randomness. Registered by the rules
tests as the ``habit`` backend; the episodes run in-process (workers=1).
"""

from __future__ import annotations

from automem.core import ChatModel, Completion, CompletionRequest, ModelIdentity, Usage
from automem.models.registry import ModelSpec

HABITS = (
    "good",  # LOG appends a new line, PLAN walks on: no rule should fire
    "silent",  # LOG writes nothing
    "empty_search",  # PLAN searches for a word that is nowhere
    "redundant",  # LOG appends the same line every step
    "grow",  # LOG appends ten new lines every step
    "missing",  # PLAN reads a file that does not exist
    "still",  # acts with the first action (a no-op in Line: wait; Crafter: Noop)
    "invalid",  # commits an action that does not exist
    "no_commit",  # PLAN never commits: the fallback is used
    "craft",  # commits Make Wood Pickaxe (Crafter) with nothing to make it from
    "pace",  # back and forth: east and west (NLE), the second and third actions (Crafter)
    "silent_do",  # LOG writes nothing; PLAN commits Do (Crafter: collects now and then)
)


class HabitModel(ChatModel):
    def __init__(self, habit: str) -> None:
        if habit not in HABITS:
            raise ValueError(f"unknown habit {habit!r}; habits: {', '.join(HABITS)}")
        self.habit = habit
        self.calls = 0
        self.plans = 0
        self.identity = ModelIdentity(spec=f"habit:{habit}", backend="habit", name=habit)

    def complete(self, request: CompletionRequest) -> Completion:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        self.calls += 1
        text = self._log(turn) if request.phase == "log" else self._plan(request, turn)
        return Completion(text=text, usage=Usage(prompt_tokens=10, completion_tokens=5))

    def _log(self, turn: int) -> str:
        if self.habit in ("silent", "silent_do"):
            return "<|DONE|>"
        if self.habit == "redundant":
            return "<|APPEND|>actions_log|moved on<|END|>\n<|DONE|>"
        if self.habit == "grow":
            lines = [f"<|APPEND|>actions_log|note {self.calls}.{i}<|END|>" for i in range(10)]
            return "\n".join([*lines, "<|DONE|>"])
        return f"<|APPEND|>actions_log|call {self.calls}<|END|>\n<|DONE|>"

    def _plan(self, request: CompletionRequest, turn: int) -> str:
        actions = request.actions
        self.plans += 1
        if self.habit == "empty_search" and turn == 0:
            return "<|SEARCH|>actions_log|zebra<|END|>"
        if self.habit == "missing" and turn == 0:
            return "<|READ|>goals<|END|>"
        if self.habit == "no_commit":
            return "Let me think about it."
        action = "right" if "right" in actions else actions[0]  # Line: always somewhere new
        if self.habit == "still":
            action = actions[0]
        elif self.habit == "silent_do":
            action = "Do"
        elif self.habit == "invalid":
            action = "dance wildly"
        elif self.habit == "craft":
            action = "Make Wood Pickaxe"
        elif self.habit == "pace":
            pair = ("east", "west") if {"east", "west"} <= set(actions) else actions[1:3]
            action = pair[self.plans % 2]
        return f"<|ACTION|>{action}<|END|>"


def habit_backend(spec: ModelSpec, seed: int) -> ChatModel:
    return HabitModel(spec.name or "")
