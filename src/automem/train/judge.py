"""An optional LLM judge of the turns the signals accept, on any tool-calling backend.

The judge sees one turn: the game and phase, the prompt's last user message, the reply as it
would be trained on (post-processed), the results the commands got, what the step's action
did, and the signals' findings. It must call ``decide`` with ``accept`` and a ``reason``; it
may reject a turn the signals accepted, never accept one they rejected (it never sees those),
which bounds its cost by the accepted turns.

Verdicts are cached in a JSON Lines file keyed by the judge's spec, the trace, the call and the
reply, so an interrupted selection reruns without asking again. A judge that does not answer
with a valid call after one correction fails the selection with the turn named: a missing
verdict is never replaced by a default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import cast

from pydantic import Field

from automem.core import ChatModel, Frozen, ModelError, Sampling
from automem.models.chat import (
    ChatMessage,
    ChatRequest,
    Tool,
    ToolCallError,
    ToolResult,
    validate_call,
)
from automem.train.episode import EpisodeData
from automem.train.examples import Example
from automem.train.select import Decision, Verdict

PROMPT_CHARS = 4000  # of the prompt's last user message shown to the judge
RESULT_CHARS = 400  # of each command result

SYSTEM = (
    "You review the memory decisions of a game-playing agent, to choose training data for a "
    "memory specialist. The agent keeps memory files and uses commands: in LOG it records "
    "what the last action's outcome taught, in PLAN it recalls what it needs before acting. "
    "A good decision records accurate, non-redundant, useful facts in a sensible file, or "
    "recalls exactly what the next action needs. Reject writes that are inaccurate, vague, "
    "duplicated or misfiled, and recalls that cannot help. Call decide exactly once."
)


class Decide(Frozen):
    accept: bool = Field(description="Keep this turn as a training example.")
    reason: str = Field(min_length=1, max_length=600, description="One or two sentences why.")


DECIDE = Tool(
    name="decide", description="Accept or reject the turn, with the reason.", params=Decide
)


class JudgeError(ValueError):
    """The judge gave no usable verdict for a turn (the message names it)."""


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut]{text[-limit:]}"


def brief(example: Example, decision: Decision, episode: EpisodeData) -> str:
    """What the judge reads about one turn."""
    turn = episode.turn(decision.call_id)
    results = [
        f"- {episode.commands[p].op} -> {_cut(episode.commands[p].result, RESULT_CHARS)}"
        for p in (turn.commands if turn else ())
    ]
    step = episode.steps.get(decision.step)
    outcome = (
        f"action {step.action!r} (valid {step.valid}), reward {step.reward:g}, "
        f"progression {step.progression:.3f}"
        if step
        else "no action recorded"
    )
    users = [m.content for m in example.messages[:-1] if m.role == "user"]
    later = []
    if len(users) > 1:  # a later turn: the results it answered
        later = ["", "Then, before this reply:", _cut(users[-1], PROMPT_CHARS)]
    return "\n".join(
        [
            f"Game: {episode.header.game} ({episode.env_id}); step {decision.step}; "
            f"phase {decision.phase.upper()}; turn {decision.turn}.",
            "The agent was shown:",
            _cut(users[0] if users else "", PROMPT_CHARS),
            *later,
            "",
            "Its reply, as it would be trained on:",
            example.reply,
            "",
            "Results of its commands:",
            *(results or ["(none)"]),
            "",
            f"The step's action: {outcome}.",
            f"Deterministic signals: {decision.reason}",
        ]
    )


class Judge:
    """Calls ``model`` once per turn (twice when its first answer is malformed)."""

    def __init__(self, model: ChatModel, cache: Path | None = None) -> None:
        self.model = model
        self.cache = cache
        self.calls = 0
        self._known: dict[str, Verdict] = {}
        if cache is not None and cache.exists():
            for lineno, line in enumerate(cache.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    record = json.loads(line)
                    self._known[record["key"]] = Verdict(
                        accept=record["accept"], reason=record["reason"]
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise JudgeError(
                        f"{cache}:{lineno}: bad cached verdict ({exc}); delete the file to "
                        "judge again"
                    ) from None

    def _key(self, example: Example, decision: Decision) -> str:
        text = "\n".join(
            [self.model.identity.spec, example.provenance.trace, decision.call_id, example.reply]
        )
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def __call__(self, example: Example, decision: Decision, episode: EpisodeData) -> Verdict:
        key = self._key(example, decision)
        if key in self._known:
            return self._known[key]
        verdict = self._ask(brief(example, decision, episode), decision)
        self._known[key] = verdict
        if self.cache is not None:
            record = {"key": key, "call_id": decision.call_id, **verdict.model_dump()}
            with self.cache.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"episode_id": decision.episode_id, **record}) + "\n")
        return verdict

    def _ask(self, text: str, decision: Decision) -> Verdict:
        where = f"{decision.episode_id} call {decision.call_id}"
        messages: list[ChatMessage] = [ChatMessage(role="user", content=text)]
        problem = ""
        for _ in range(2):
            request = ChatRequest(
                messages=tuple(messages),
                system=SYSTEM,
                tools=(DECIDE,),
                tool_choice="decide",
                sampling=Sampling(temperature=0.0, max_tokens=300),
            )
            self.calls += 1
            try:
                reply = self.model.chat(request)
            except ModelError as exc:
                spec = self.model.identity.spec
                raise JudgeError(f"judge {spec} failed on {where}: {exc}") from None
            if not reply.tool_calls:
                problem = "the judge answered without calling decide"
                nudge = ChatMessage(role="user", content="Call decide with accept and reason.")
                messages += [reply.message(), nudge]
                continue
            call = reply.tool_calls[0]
            try:
                args = validate_call(call, (DECIDE,))
            except ToolCallError as exc:
                problem = str(exc)
                messages += [
                    reply.message(),
                    ChatMessage(
                        role="tool",
                        tool_results=tuple(
                            ToolResult(call_id=c.id, content=str(exc), is_error=True)
                            for c in reply.tool_calls
                        ),
                    ),
                ]
                continue
            decided = cast(Decide, args)  # validate_call returns the tool's params model
            return Verdict(accept=decided.accept, reason=" ".join(decided.reason.split()))
        raise JudgeError(f"judge {self.model.identity.spec} gave no verdict on {where}: {problem}")
