"""Deterministic post-processing of selected examples (method.md, loop 2), then a final check.

Each rule edits or judges the example's last assistant message (its reply), in this order:

1. unwrap code fences around command tags;
2. LOG: cut after DONE;
3. PLAN: strip the ACTION;
4. drop examples left with no memory command;
5. cut anything after the last command terminator;
6. drop examples that still contain a code fence.

Before them, a PLAN reply whose only commands are actions is dropped (``action-only``, as the
reference does): it teaches no memory skill. Commands are recognised by the project's own parser
(:func:`automem.memory.parse_commands`), so training data and the agent agree on what a command
is. A command *terminator* is the ``<|END|>`` closing a command, or a bare ``<|DONE|>`` (it takes
no arguments); a command the parser had to close itself is not terminated, so rule 5 cuts it.

A final check then drops (rule ``check``) any item still left with no memory command, a fence,
an ACTION (a LOG reply may hold one before its DONE) or text after the last terminator.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from automem.core import Frozen
from automem.memory import MEMORY_OPS, Command, parse_commands
from automem.memory.ops import ACTION, ARITY, DONE
from automem.train.examples import Example

DropRule = Literal["action-only", "4", "6", "check"]
LOG, PLAN = "log", "plan"

FENCE = "```"
# A fenced block: an opening fence with an optional language word, its body, the closing fence.
# Non-greedy and anchored on literal fences; replies are short, so a scan per block is cheap.
_FENCED = re.compile(r"`{3,}[A-Za-z0-9_+-]{0,20}[ \t]*\n?(.*?)`{3,}", re.DOTALL)
_END_TAG = re.compile(r"<\|\s{0,16}end\s{0,16}\|>\s*\Z", re.IGNORECASE)


class Dropped(Frozen):
    example: Example
    rule: DropRule
    reason: str


class PostprocessResult(Frozen):
    kept: tuple[Example, ...]
    dropped: tuple[Dropped, ...]
    edits: dict[int, int]  # rule number -> how many kept examples it changed (rules 1, 2, 3, 5)

    def drops_by_rule(self) -> dict[str, int]:
        return dict(Counter(d.rule for d in self.dropped))


@dataclass(frozen=True)
class _Span:
    command: Command
    start: int
    end: int

    @property
    def terminated(self) -> bool:
        bare = ARITY.get(self.command.op) == 0
        return bare or _END_TAG.search(self.command.raw) is not None


def spans(text: str) -> list[_Span]:
    """The commands of ``text`` as the parser reads them, with where each stands in it."""
    found, pos = [], 0
    for command in parse_commands(text).commands:
        start = text.find(command.raw, pos)
        if start < 0:  # the parser's raw is an exact slice of text; guard anyway
            raise ValueError(f"parser returned a command not in the text: {command.raw!r}")
        pos = start + len(command.raw)
        found.append(_Span(command, start, pos))
    return found


# --------------------------------------------------------------------------- the rules


def unwrap_fences(text: str) -> str:
    """Rule 1: a fenced block that holds a command is replaced by its (stripped) body."""

    def unwrap(match: re.Match[str]) -> str:
        body = match.group(1)
        return body.strip() if parse_commands(body).commands else match.group(0)

    return _FENCED.sub(unwrap, text)


def cut_after_done(text: str) -> str:
    """Rule 2 (LOG): nothing after the first DONE."""
    for span in spans(text):
        if span.command.op == DONE:
            return text[: span.end]
    return text


def strip_actions(text: str) -> str:
    """Rule 3 (PLAN): every ACTION command removed."""
    for span in reversed(spans(text)):
        if span.command.op == ACTION:
            text = text[: span.start] + text[span.end :]
    return text


def has_memory_command(text: str) -> bool:
    """Rule 4's test: the reply issues at least one memory command."""
    return any(c.op in MEMORY_OPS for c in parse_commands(text).commands)


def cut_after_last_terminator(text: str) -> str:
    """Rule 5: nothing after the end of the last terminated command."""
    ends = [s.end for s in spans(text) if s.terminated]
    return text[: ends[-1]] if ends else ""


def _action_only(example: Example) -> bool:
    ops = {c.op for c in parse_commands(example.reply).commands}
    return example.phase == PLAN and ops <= {ACTION}


# --------------------------------------------------------------------------- the pipeline


def postprocess_one(example: Example) -> tuple[Example | Dropped, list[int]]:
    """The post-processed example, or why it was dropped; and the rules that changed it."""
    changed: list[int] = []

    def apply(rule: int, text: str, new: str) -> str:
        if new != text:
            changed.append(rule)
        return new

    def drop(rule: DropRule, reason: str) -> tuple[Dropped, list[int]]:
        return Dropped(example=example, rule=rule, reason=reason), changed

    text = apply(1, example.reply, unwrap_fences(example.reply))
    if _action_only(example.with_reply(text)):
        return drop("action-only", "PLAN reply whose only commands are actions")
    if example.phase == LOG:
        text = apply(2, text, cut_after_done(text))
    if example.phase == PLAN:
        text = apply(3, text, strip_actions(text))
    if not has_memory_command(text):
        return drop("4", "rule 4: no memory command left after rules 1-3")
    text = apply(5, text, cut_after_last_terminator(text))
    if FENCE in text:
        return drop("6", "rule 6: a code fence is left after rules 1-5")
    result = example.with_reply(text)
    if problems := violations(result):
        return drop("check", "final check: " + ", ".join(problems))
    return result, changed


def postprocess(examples: Iterable[Example]) -> PostprocessResult:
    """Apply the rules to every example; the final check drops any that still breaks them."""
    kept: list[Example] = []
    dropped: list[Dropped] = []
    edits: Counter[int] = Counter()
    for example in examples:
        result, changed = postprocess_one(example)
        if isinstance(result, Dropped):
            dropped.append(result)
        else:
            edits.update(changed)
            kept.append(result)
    return PostprocessResult(
        kept=tuple(kept), dropped=tuple(dropped), edits={k: edits[k] for k in sorted(edits)}
    )


def violations(example: Example) -> list[str]:
    """What in ``example``'s reply breaks the rules (empty for a clean item)."""
    text = example.reply
    problems = []
    if not has_memory_command(text):
        problems.append("no memory command")
    if FENCE in text:
        problems.append("a code fence")
    if any(c.op == ACTION for c in parse_commands(text).commands):
        problems.append("an ACTION")
    if cut_after_last_terminator(text) != text:
        problems.append("text after the last command terminator")
    return problems
