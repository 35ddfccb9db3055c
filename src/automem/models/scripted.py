"""Scripted models for tests.

:class:`ScriptedModel` plays valid memory commands and actions, deterministic by seed. It
reads what the agent may say from the request (phase, allowed ops, actions, memory files),
so it exercises every part of the inner loop: multi-turn LOG and PLAN, reads before commits,
occasional slips the parser must tolerate. It is not a substitute for a real model.

:class:`ScriptedChatModel` plays a fixed script of tool-calling replies (text and/or calls,
malformed ones included) and keeps every request it was sent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automem.core import (
    ChatModel,
    Completion,
    CompletionRequest,
    ModelError,
    ModelIdentity,
    Usage,
)
from automem.models.chat import ChatReply, ChatRequest, ToolCall
from automem.models.pricing import Price

_READ_OPS = ("SEARCH", "READ", "TAIL", "COUNT")


class ScriptedModel(ChatModel):
    def __init__(self, seed: int = 0, *, slip_rate: float = 0.1, spec: str = "scripted") -> None:
        if not 0.0 <= slip_rate <= 1.0:
            raise ValueError(f"slip_rate must be in [0, 1], got {slip_rate}")
        self.rng = random.Random(seed)
        self.slip_rate = slip_rate
        self.identity = ModelIdentity(
            spec=spec,
            backend="scripted",
            name="scripted",
            details={"seed": seed, "slip_rate": slip_rate},
        )

    def complete(self, request: CompletionRequest) -> Completion:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        plays = self._log if request.phase == "log" else self._plan
        text = plays(request, turn)
        prompt_chars = sum(len(m.content) for m in request.messages)
        usage = Usage(prompt_tokens=prompt_chars // 4 + 1, completion_tokens=len(text) // 4 + 1)
        return Completion(text=text, usage=usage)

    def _log(self, request: CompletionRequest, turn: int) -> str:
        files = list(request.memory_files) or ["notes"]
        rng = self.rng
        if turn == 0 and rng.random() < 0.4:
            return self._read(request, files)
        seen = _first_line(request.messages[1].content if len(request.messages) > 1 else "")
        target = rng.choice(files)
        parts = [f"Noting what happened.\n{self._tag('APPEND', target, f'saw: {seen}')}"]
        if "WRITE" in request.allowed_ops and rng.random() < 0.15:
            parts.append(self._tag("WRITE", rng.choice(files), f"plan {rng.randrange(1000)}"))
        if "UPSERT_MAP" in request.allowed_ops and rng.random() < 0.3:
            x, y = rng.randrange(20), rng.randrange(20)
            parts.append(self._tag("UPSERT_MAP", f"{x},{y}", rng.choice(["floor", "wall", "door"])))
        if rng.random() < 0.85 or turn >= 2:
            parts.append("<|DONE|>")
        return "\n".join(parts)

    def _plan(self, request: CompletionRequest, turn: int) -> str:
        rng = self.rng
        can_read = any(op in request.allowed_ops for op in _READ_OPS)
        if turn == 0 and can_read and rng.random() < 0.5:
            return self._read(request, list(request.memory_files) or ["notes"])
        action = rng.choice(request.actions) if request.actions else "wait"
        if rng.random() < 0.05:
            action = "dance wildly"  # an invalid action now and then
        return f"I will act.\n{self._tag('ACTION', action)}"

    def _read(self, request: CompletionRequest, files: list[str]) -> str:
        ops = [op for op in _READ_OPS if op in request.allowed_ops]
        op = self.rng.choice(ops)
        name = self.rng.choice(files)
        args = {"SEARCH": (name, "tree"), "COUNT": (name, "saw"), "TAIL": (name, "5")}.get(
            op, (name,)
        )
        return f"Let me check my notes.\n{self._tag(op, *args)}"

    def _tag(self, op: str, *args: str) -> str:
        """One command, now and then with a slip the parser is meant to tolerate."""
        slip = self.rng.random() < self.slip_rate
        kind = self.rng.randrange(3) if slip else -1
        name = op.lower() if kind == 0 else op
        text = f"<|{name}|>{'|'.join(args)}<|END|>"
        if kind == 1:
            text = f"```\n{text}\n```"
        return text


def _first_line(text: str, width: int = 80) -> str:
    """The first line of the observation in a prompt (what a model would note down)."""
    lines = [line.strip() for line in text.splitlines()]
    if "Current observation:" in lines:
        lines = lines[lines.index("Current observation:") + 1 :]
    for line in lines:
        if line and not line.endswith(":"):
            return line[:width].replace("|", "/")
    return "nothing"


@dataclass(frozen=True)
class ScriptedReply:
    """One reply of a :class:`ScriptedChatModel`.

    ``calls`` are ``(tool name, arguments)``: a dict, or the JSON text the model "wrote"
    (which may be invalid, to test how a session handles it). ``finish_reason`` defaults to
    ``tool_calls`` when there are calls, else ``stop``.
    """

    text: str = ""
    calls: tuple[tuple[str, dict[str, Any] | str], ...] = ()
    finish_reason: str | None = None


class ScriptedChatModel(ChatModel):
    """A tool-calling model for tests: one scripted reply per :meth:`chat` call, in order.

    Every request is kept in :attr:`requests`. A call past the end of the script, or a reply
    that contradicts the request's ``tool_choice`` (calls when it says ``none``, none when it
    requires one, another tool than the one it names), raises :class:`ModelError`: the test's
    script no longer matches what the code under test asks.
    """

    def __init__(
        self,
        replies: Sequence[ScriptedReply | str],
        *,
        spec: str = "scripted-chat",
        price: Price | None = None,
    ) -> None:
        self.replies = tuple(
            r if isinstance(r, ScriptedReply) else ScriptedReply(r) for r in replies
        )
        self.price = price
        self.requests: list[ChatRequest] = []
        self.identity = ModelIdentity(
            spec=spec,
            backend="scripted",
            name="scripted-chat",
            details={"replies": len(self.replies)},
        )

    @property
    def left(self) -> int:
        """How many scripted replies have not been played."""
        return len(self.replies) - len(self.requests)

    def chat(self, request: ChatRequest) -> ChatReply:
        index = len(self.requests)
        if index >= len(self.replies):
            raise ModelError(
                f"scripted chat model: call {index + 1} but the script has only "
                f"{len(self.replies)} replies; add replies for what the code now asks",
                kind="script_exhausted",
            )
        self.requests.append(request)
        reply = self.replies[index]
        calls = tuple(
            ToolCall.from_json(f"call_{index}_{j}", name, args)
            if isinstance(args, str)
            else ToolCall.from_value(f"call_{index}_{j}", name, args)
            for j, (name, args) in enumerate(reply.calls)
        )
        _check_choice(request, calls, index)
        written = len(reply.text) + sum(len(c.arguments_json) for c in calls)
        prompt, completion = len(request.model_dump_json()) // 4 + 1, written // 4 + 1
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=self.price.cost(prompt, completion) if self.price else None,
        )
        return ChatReply(
            text=reply.text,
            tool_calls=calls,
            usage=usage,
            finish_reason=reply.finish_reason or ("tool_calls" if calls else "stop"),
            model=self.identity,
        )

    def complete(self, request: CompletionRequest) -> Completion:
        raise ModelError(
            "the scripted chat model answers tool-calling chat calls only; the agent's "
            "completions are played by ScriptedModel",
            kind="unsupported",
        )


def _check_choice(request: ChatRequest, calls: tuple[ToolCall, ...], index: int) -> None:
    choice = request.tool_choice
    names = sorted({c.name for c in calls})
    wrong = (
        (choice == "none" and calls)
        or (choice == "required" and not calls)
        or (choice not in ("auto", "required", "none") and names != [choice])
    )
    if wrong:
        raise ModelError(
            f"scripted chat model: reply {index + 1} calls {names or 'no tool'} but the "
            f"request's tool_choice is {choice!r}",
            kind="script_mismatch",
        )
