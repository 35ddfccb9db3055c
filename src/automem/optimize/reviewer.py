"""The LLM reviewer: one tool-calling session that reads runs and proposes one revision.

:class:`LLMReviewer` implements :class:`automem.optimize.review.Reviewer`. Its session offers
the read-only tools of :mod:`automem.optimize.reviewer_tools`, ``submit`` (checked at once by
:func:`automem.optimize.check_proposal`; a refusal goes back to the model with its reasons, up
to ``limits.max_submissions``) and, only with ``allow_code``, ``write_code``. Every model call
is validated with :func:`automem.models.chat.validate_call`; a bad call's error is that call's
result. Caps on turns, tokens and cost are checked before each model call.

Every event (request messages, reply, tool result, submission, end) is appended and flushed
to ``attempt_dir/transcript.jsonl`` as it happens (see :mod:`automem.optimize.transcript`).

Failures of the session (no submit, caps hit, every submission refused, a conversation that
outgrew the model's context) are a :class:`ReviewOutcome` with ``failure`` set. A model call
that fails for any other reason (a dead server, a wrong key, a quota) is not the reviewer's
failure and must not cost the optimiser an attempt: it is written to the transcript, then
raised as :class:`automem.core.ModelError` naming the reviewer, the call and the transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from automem.core import ChatModel, ModelError, Sampling, Usage
from automem.models.chat import (
    ChatMessage,
    ChatReply,
    ChatRequest,
    Tool,
    ToolCall,
    ToolCallError,
    ToolResult,
    validate_call,
)
from automem.optimize.proposal import CheckedProposal, check_proposal
from automem.optimize.review import ReviewContext, ReviewOutcome
from automem.optimize.reviewer_prompt import REMINDER, opening, system_prompt
from automem.optimize.reviewer_tools import MAX_RESULT_CHARS, ReviewTools
from automem.optimize.transcript import Transcript
from automem.runs.plugins import PluginError, import_plugin
from automem.scaffold import Scaffold, dump, parse, validate_text

CODE_DIR = "code"
CODE_NAME = re.compile(r"[a-z_][a-z0-9_]*\.py")
MAX_CODE_CHARS = 100_000
MAX_FAILURE_CHARS = 500
DEFAULT_SAMPLING = Sampling(temperature=1.0, max_tokens=8192)
# The tools of a compact session (small local models, whose prompt must stay short).
COMPACT_TOOLS = ("list_episodes", "read_steps", "current_scaffold", "helper_catalogue")


class SubmitArgs(BaseModel):
    scaffold: str = Field(
        min_length=1,
        description="The revised scaffold: the whole YAML, or a unified diff of the parent's "
        "YAML (starting with '--- ' or '@@').",
    )
    analysis: str = Field(min_length=1, description="What the traces show and why this change.")
    description: str = Field(min_length=1, description="One paragraph: what the revision does.")


class WriteCodeArgs(BaseModel):
    filename: str = Field(description="A plain module file name, e.g. 'door_helper.py'.")
    source: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="Python source.")


SUBMIT = Tool(
    name="submit",
    description="End the review with one revised scaffold, an analysis and a description. "
    "It is checked at once; a refusal comes back with every reason.",
    params=SubmitArgs,
)
WRITE_CODE = Tool(
    name="write_code",
    description="Write a Python file defining a new helper (it must call "
    "automem.agent.helpers.register_helper); it is imported when you next submit.",
    params=WriteCodeArgs,
)


class LLMReviewer:
    """A reviewer that is a tool-calling session with ``model`` (see the module).

    ``compact`` is for small local models, whose first prompt (system prompt, parent YAML,
    every tool's schema: about 3,700 tokens) takes minutes on a CPU: the session offers only
    :data:`COMPACT_TOOLS` and submit, and leaves the parent's YAML to ``current_scaffold``.
    The constraints, checks and caps are the same.
    """

    def __init__(
        self,
        model: ChatModel,
        name: str | None = None,
        *,
        sampling: Sampling = DEFAULT_SAMPLING,
        compact: bool = False,
    ) -> None:
        self.model = model
        self.name = name or f"llm:{model.identity.spec}"
        self.sampling = sampling
        self.compact = compact

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        attempt_dir.mkdir(parents=True, exist_ok=True)
        with Transcript(attempt_dir / "transcript.jsonl") as transcript:
            return _Session(self, context, attempt_dir, transcript).run()


@dataclass
class _Totals:
    prompt: int = 0
    completion: int = 0
    cached: int = 0
    latency: float = 0.0
    cost: float = 0.0
    cost_unknown: bool = False

    def add(self, usage: Usage) -> None:
        self.prompt += usage.prompt_tokens
        self.completion += usage.completion_tokens
        self.cached += usage.cached_tokens
        self.latency += usage.latency_s
        if usage.cost_usd is None:
            self.cost_unknown = True
        else:
            self.cost += usage.cost_usd

    def usage(self) -> Usage:
        cost = None if self.cost_unknown and not self.cost else self.cost
        return Usage(
            prompt_tokens=self.prompt,
            completion_tokens=self.completion,
            cached_tokens=self.cached,
            latency_s=self.latency,
            cost_usd=cost,
        )


@dataclass
class _Session:
    reviewer: LLMReviewer
    context: ReviewContext
    attempt_dir: Path
    transcript: Transcript
    totals: _Totals = field(default_factory=_Totals)
    turns: int = 0
    refused: int = 0
    accepted: tuple[CheckedProposal, SubmitArgs] | None = None
    code_files: list[str] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    last_refusal: str = ""  # the first reason of the last refused submission
    context_failure: str = ""  # why the conversation could not go on, if it outgrew the model

    def __post_init__(self) -> None:
        # The caller's inputs: a parent that does not validate is a bug of the caller.
        self.parent: Scaffold = validate_text(self.context.parent_text, "the parent scaffold")
        self.earlier = [
            parse(text, f"earlier candidate {i}")
            for i, text in enumerate(self.context.earlier_candidates)
        ]
        self.box = ReviewTools(self.context)
        extra = (SUBMIT, WRITE_CODE) if self.context.allow_code else (SUBMIT,)
        offered = self.box.tools()
        compact = self.reviewer.compact
        if compact:
            offered = tuple(t for t in offered if t.name in COMPACT_TOOLS)
        self.tools: tuple[Tool, ...] = (*offered, *extra)
        self.system = system_prompt(self.context, [t.name for t in self.tools], compact=compact)

    def run(self) -> ReviewOutcome:
        limits = self.context.limits
        self.transcript.write(
            "start",
            reviewer=self.reviewer.name,
            model=self.reviewer.model.identity.model_dump(mode="json"),
            limits=limits.model_dump(mode="json"),
            system=self.system,
            tools=[t.model_dump(mode="json") for t in self.tools],
        )
        messages = [ChatMessage(role="user", content=opening(self.context, self.box.overview()))]
        logged, reminded = 0, False
        while True:
            stop = self._cap_hit()
            if stop is not None:
                return self._end(failure=stop)
            self.transcript.write(
                "request",
                turn=self.turns + 1,
                messages=[m.model_dump(mode="json") for m in messages[logged:]],
            )
            logged = len(messages)
            reply = self._call(messages)
            if reply is None:
                return self._end(failure=self.context_failure)
            messages.append(_assistant(reply))
            if not reply.tool_calls:
                if reminded:
                    return self._end(
                        failure="no submit: the model answered without a tool call again "
                        "after a reminder"
                    )
                reminded = True
                messages.append(ChatMessage(role="user", content=REMINDER))
                continue
            results = self._run_calls(reply.tool_calls)
            if self.accepted is not None:
                return self._end()
            if self.refused >= limits.max_submissions:
                return self._end(
                    failure=f"invalid: all {self.refused} submissions were refused by the "
                    f"checks; the last: {self.last_refusal}"
                )
            messages.append(ChatMessage(role="tool", tool_results=tuple(results)))

    # ------------------------------------------------------------------ model calls

    def _cap_hit(self) -> str | None:
        limits, totals = self.context.limits, self.totals
        if self.turns >= limits.max_turns:
            return f"turn cap: {self.turns} model calls (max_turns) without an accepted submit"
        tokens = totals.prompt + totals.completion
        if tokens >= limits.max_tokens:
            return f"token cap: {tokens} tokens used (max_tokens {limits.max_tokens})"
        if limits.max_cost_usd is not None:
            if totals.cost_unknown:
                return (
                    f"cost cap: the model reports no cost, so max_cost_usd "
                    f"{limits.max_cost_usd} cannot be kept; give the model spec a price"
                )
            if totals.cost >= limits.max_cost_usd:
                return f"cost cap: ${totals.cost:.4f} spent (max_cost_usd {limits.max_cost_usd})"
        return None

    def _call(self, messages: list[ChatMessage]) -> ChatReply | None:
        """One model call; None when the conversation outgrew the model's context."""
        request = ChatRequest(
            messages=tuple(messages),
            system=self.system,
            tools=self.tools,
            sampling=self.reviewer.sampling,
        )
        self.turns += 1
        try:
            reply = self.reviewer.model.chat(request)
        except ModelError as exc:
            self.transcript.write("error", turn=self.turns, kind=exc.kind, message=str(exc))
            if exc.kind == "context_length":
                self.context_failure = f"context: the conversation outgrew the model ({exc})"
                return None
            raise ModelError(
                f"reviewer {self.reviewer.name}: model call {self.turns} failed ({exc.kind}): "
                f"{exc}; the session so far is in {self.transcript.path}",
                kind=exc.kind,
                retryable=exc.retryable,
            ) from exc
        self.totals.add(reply.usage)
        self.transcript.write(
            "reply",
            turn=self.turns,
            text=reply.text,
            tool_calls=[c.model_dump(mode="json") for c in reply.tool_calls],
            finish_reason=reply.finish_reason,
            usage=reply.usage.model_dump(mode="json"),
            cost_usd=reply.usage.cost_usd,
        )
        return reply

    # ------------------------------------------------------------------ tool calls

    def _run_calls(self, calls: tuple[ToolCall, ...]) -> list[ToolResult]:
        results = []
        for call in calls:
            ended = self.refused >= self.context.limits.max_submissions
            if self.accepted is not None or ended:  # the session ends after this reply
                self.transcript.write("skipped", turn=self.turns, call_id=call.id, name=call.name)
                continue
            result = self._run_call(call)
            self.transcript.write(
                "tool_result",
                turn=self.turns,
                call_id=call.id,
                name=call.name,
                is_error=result.is_error,
                content=result.content,
            )
            results.append(result)
        return results

    def _run_call(self, call: ToolCall) -> ToolResult:
        try:
            args = validate_call(call, self.tools)
            if isinstance(args, SubmitArgs):
                content = self._submit(args)
            elif isinstance(args, WriteCodeArgs):
                content = self._write_code(args)
            else:
                content = self.box.run(call.name, args)
        except (ValueError, OSError) as exc:  # ToolCallError, bad ids, refusals, unreadable data
            message = str(exc) if isinstance(exc, ToolCallError) else f"{call.name}: {exc}"
            return ToolResult(call_id=call.id, content=message[:MAX_RESULT_CHARS], is_error=True)
        return ToolResult(call_id=call.id, content=content)

    def _submit(self, args: SubmitArgs) -> str:
        number = self.refused + 1
        self._load_code()
        checked = check_proposal(
            args.scaffold, self.parent, self.earlier, source=f"submission {number}"
        )
        if isinstance(checked, CheckedProposal):
            self.accepted = (checked, args)
            self.transcript.write("submission", number=number, ok=True, changes=checked.changes)
            return "accepted: " + "; ".join(checked.changes)
        self.refused += 1
        self.last_refusal = checked.reasons[0]
        self.transcript.write("submission", number=number, ok=False, reasons=checked.reasons)
        left = self.context.limits.max_submissions - self.refused
        raise ToolCallError(
            f"submit refused ({left} submissions left); fix every point and submit again:\n"
            f"{checked.feedback()}"
        )

    def _load_code(self) -> None:
        """Import the code files written so far, so their helpers are registered."""
        for name in self.code_files:
            if name in self.loaded:
                continue
            try:
                import_plugin(str(self.attempt_dir / name))
            except PluginError as exc:
                self.refused += 1
                self.last_refusal = str(exc)
                self.transcript.write(
                    "submission", number=self.refused, ok=False, reasons=[str(exc)]
                )
                raise ToolCallError(f"submit refused: {exc}; fix the file, submit again") from None
            self.loaded.add(name)

    def _write_code(self, args: WriteCodeArgs) -> str:
        if not CODE_NAME.fullmatch(args.filename):
            raise ToolCallError(
                f"write_code: filename {args.filename!r} must be a plain module name matching "
                "[a-z_][a-z0-9_]*.py (no folders)"
            )
        relative = f"{CODE_DIR}/{args.filename}"
        if relative in self.loaded:
            raise ToolCallError(
                f"write_code: {relative} was already imported by a submit; write a new file"
            )
        folder = self.attempt_dir / CODE_DIR
        if folder.is_symlink() or (folder / args.filename).is_symlink():
            raise ToolCallError(f"write_code: {relative} is a symbolic link; refusing to write")
        folder.mkdir(exist_ok=True)
        path = folder / args.filename
        tmp = folder / f".{args.filename}.tmp"
        tmp.write_text(args.source, encoding="utf-8")
        tmp.replace(path)
        if relative not in self.code_files:
            self.code_files.append(relative)
        self.transcript.write("code", file=relative, chars=len(args.source))
        return f"wrote {relative} ({len(args.source.splitlines())} lines); submit imports it"

    # ------------------------------------------------------------------ the end

    def _end(self, failure: str | None = None) -> ReviewOutcome:
        if failure is None and self.accepted is not None:
            checked, args = self.accepted
            outcome = ReviewOutcome(
                scaffold_text=dump(checked.scaffold),
                analysis=args.analysis,
                description=args.description,
                code_files=tuple(self.code_files),
                usage=self.totals.usage(),
                turns=self.turns,
            )
        else:
            line = " ".join((failure or "no submit").split())  # one line, whatever it quotes
            if len(line) > MAX_FAILURE_CHARS:
                line = line[:MAX_FAILURE_CHARS] + "..."
            outcome = ReviewOutcome(
                failure=line,
                code_files=tuple(self.code_files),
                usage=self.totals.usage(),
                turns=self.turns,
            )
        self.transcript.write("end", outcome=outcome.model_dump(mode="json"))
        return outcome


def _assistant(reply: ChatReply) -> ChatMessage:
    """The reply as the conversation's next turn (an empty one as a visible placeholder, as
    some APIs refuse an empty assistant message)."""
    if not reply.text and not reply.tool_calls:
        return ChatMessage(role="assistant", content="(no reply)")
    return reply.message()
