"""Helpers that keep memory files by code: a status file, pruning, a file's tail, an auto-log.

Every write goes through the memory store as a journaled record of phase ``helper``, so the
trace holds it and ``rebuild`` replays it. A refused write (a full file, too many files) is
journaled too and shown to the model in the helper's next prompt context: it never ends the
episode and is never hidden.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from automem.agent.fields import StepFacts, Template
from automem.agent.helpers import Helper, HelperContext
from automem.core import Phase
from automem.memory import WRITE_OPS, Command, JournalRecord, MemoryLimits, Op
from automem.memory.edits import overwrite
from automem.memory.names import name_problem


def _file_name(name: str) -> str:
    if (problem := name_problem(name, MemoryLimits().max_name_chars)) is not None:
        raise ValueError(f"invalid memory file name {name!r}: {problem}")
    return name


FileName = Annotated[str, AfterValidator(_file_name)]
PHASES_HELP = "Phases (log, plan) whose first prompt of the step shows it."


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def code_write(ctx: HelperContext, op: str, name: str, text: str) -> JournalRecord:
    """Run APPEND or WRITE for a helper: journaled with phase ``helper``; refusals come back."""
    command = Command(op=op, args=(name, text), raw=f"<|{op}|>{name}|...<|END|>")
    return ctx.memory.execute(command, step=ctx.step, phase="helper", allowed_ops=(op,))


def content(ctx: HelperContext, name: str) -> str | None:
    """A memory file's text, or None when it does not exist."""
    return ctx.memory.read(name) if name in ctx.memory.files() else None


class WritingHelper(Helper):
    """A helper that writes: it keeps its last refusal to show it to the model once."""

    def __init__(self, params: BaseModel) -> None:
        super().__init__(params)
        self._refusal: str | None = None

    def _write(self, ctx: HelperContext, op: str, name: str, text: str) -> None:
        record = code_write(ctx, op, name, text)
        if not record.ok:
            self._refusal = f"NOTE ({self.name} could not write {name}): {record.result}"

    def _take_refusal(self) -> str | None:
        refusal, self._refusal = self._refusal, None
        return refusal


# --------------------------------------------------------------------------- status_file


class StatusParams(_Params):
    file: FileName = Field("status", description="The memory file rewritten each step.")
    template: Template = Field(
        "step: {step}\nlast action: {action} ({outcome})\nprogression: {progression}\n{short_term}",
        description="The file's text: plain text with {field} placeholders (step, action_step, "
        "action, valid, reward, return, progression, outcome, observation, short_term, "
        "position, level, or info.KEY for a value of the environment's step info).",
    )
    only_on_change: bool = Field(
        True, description="Skip the write when the new text equals the file's current text."
    )


class StatusFile(WritingHelper):
    """Rewrites one memory file by code at every new observation, from a template of step facts.

    The file always holds the current status (step, last action and its outcome, progression,
    the observation's status part, position, or values of the environment's step info such as
    NetHack's depth), so the model reads it instead of reconstructing it from its own notes.
    Helps when the model wastes LOG turns copying status into files, or its notes of the status
    go stale (NetHack v2's status file).
    """

    name = "status_file"
    Params = StatusParams

    def __init__(self, params: StatusParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params
        self.facts = StepFacts()

    def on_observation(self, ctx: HelperContext) -> None:
        self.facts.observe(ctx)
        text = self.facts.render(self.p.template, ctx)
        if self.p.only_on_change and content(ctx, self.p.file) == overwrite(text):
            return
        self._write(ctx, Op.WRITE, self.p.file, text)

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        return self._take_refusal()


# --------------------------------------------------------------------------- prune_file


class PruneParams(_Params):
    files: tuple[FileName, ...] = Field(
        ("actions_log",), min_length=1, description="The memory files to keep short."
    )
    max_lines: int = Field(
        200, ge=2, le=100_000, description="A file with more lines than this is pruned."
    )
    keep_lines: int = Field(
        100, ge=1, description="How many of its last lines a pruned file keeps."
    )
    keep_head: int = Field(
        0, ge=0, description="How many first lines (a header) a pruned file keeps as well."
    )

    @model_validator(mode="after")
    def _fits(self) -> PruneParams:
        if self.keep_head + self.keep_lines >= self.max_lines:
            raise ValueError(
                f"keep_head + keep_lines ({self.keep_head} + {self.keep_lines}) must be less "
                f"than max_lines ({self.max_lines}), or pruning would not shorten the file"
            )
        return self


class PruneFile(WritingHelper):
    """Cuts memory files that grew past a number of lines down to their last lines.

    Checked at every new observation, before the step's LOG: a file with more than
    ``max_lines`` lines keeps its first ``keep_head`` lines and its last ``keep_lines``; the cut
    is a journaled write. Helps when an append-only log (the action log) grows until reading it
    floods the context, as NetHack v2 found (action log above 200 lines cut to 100).
    """

    name = "prune_file"
    Params = PruneParams

    def __init__(self, params: PruneParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params

    def on_observation(self, ctx: HelperContext) -> None:
        for name in self.p.files:
            text = content(ctx, name)
            if text is None:
                continue
            lines = text.splitlines()
            if len(lines) > self.p.max_lines:
                kept = lines[: self.p.keep_head] + lines[-self.p.keep_lines :]
                self._write(ctx, Op.WRITE, name, "\n".join(kept))

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        return self._take_refusal()


# --------------------------------------------------------------------------- inject_tail


class TailParams(_Params):
    file: FileName = Field("actions_log", description="The memory file whose end is shown.")
    lines: int = Field(10, ge=1, le=200, description="How many of its last lines to show.")
    phases: tuple[Phase, ...] = Field(("plan",), min_length=1, description=PHASES_HELP)


class InjectTail(Helper):
    """Shows the last lines of a memory file in the prompt, without a command.

    The model sees e.g. its last ten actions and outcomes at every PLAN without spending a turn
    on TAIL, and nothing when the file is missing or empty. Helps when the model repeats
    actions it has just tried because it does not look at its action log (MiniHack v4 showed
    the last lines of the action log in PLAN).
    """

    name = "inject_tail"
    Params = TailParams

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        p: TailParams = self.params  # type: ignore[assignment]
        if phase not in p.phases:
            return None
        lines = (content(ctx, p.file) or "").splitlines()[-p.lines :]
        if not lines:
            return None
        return f"The last {len(lines)} lines of {p.file}:\n" + "\n".join(lines)


# --------------------------------------------------------------------------- auto_log


class AutoLogParams(_Params):
    file: FileName = Field("actions_log", description="The memory file the line is appended to.")
    template: Template = Field(
        "step {action_step}: {action} -> {outcome}",
        description="The appended line, with {field} placeholders as in status_file; it "
        "describes the previous step's action, whose outcome the model has now seen.",
    )
    scope: Literal["any_file", "this_file"] = Field(
        "any_file",
        description="any_file: log only when LOG wrote to no file at all; this_file: whenever "
        "LOG did not write to this file.",
    )

    @field_validator("template")
    @classmethod
    def _one_line(cls, template: str) -> str:
        if "\n" in template or "\r" in template:
            raise ValueError("the auto_log template must be one line (it is appended as one)")
        return template


class AutoLog(WritingHelper):
    """Appends the last action and its outcome to a file when the step's LOG wrote nothing.

    The line is written once per step, after LOG has ended and before PLAN starts, about the
    previous step's action: its outcome was observed at this step's start, so nothing is
    written before the environment answered (the method's invariant). Helps when the model
    often skips logging, leaving gaps in the action log it later relies on (MiniHack v4).
    """

    name = "auto_log"
    Params = AutoLogParams

    def __init__(self, params: AutoLogParams) -> None:  # type: ignore[override]
        super().__init__(params)
        self.p = params
        self.facts = StepFacts()
        self._done_step = -1

    def on_observation(self, ctx: HelperContext) -> None:
        self.facts.observe(ctx)

    def prompt_context(self, ctx: HelperContext, phase: Phase) -> str | None:
        if phase == "plan" and ctx.last_result is not None and self._done_step < ctx.step:
            self._done_step = ctx.step
            if not self._log_wrote(ctx):
                self._write(ctx, Op.APPEND, self.p.file, self.facts.render(self.p.template, ctx))
        return self._take_refusal()

    def _log_wrote(self, ctx: HelperContext) -> bool:
        for record in reversed(ctx.memory.journal):
            if record.step != ctx.step:
                return False
            wrote = record.phase == "log" and record.ok and record.op in WRITE_OPS
            if wrote and (self.p.scope == "any_file" or record.file == self.p.file):
                return True
        return False
