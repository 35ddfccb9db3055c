"""GBNF grammars that constrain a local model's reply to what the agent loop accepts.

:func:`build_gbnf` compiles a :class:`~automem.core.CompletionRequest`'s phase, allowed ops,
actions and memory files into a grammar in llama.cpp's GBNF dialect. Every reply it admits
parses (with :func:`automem.memory.parse_commands`, no normalisation needed) into:

* LOG: zero or more of the allowed memory commands, then ``<|DONE|>``;
* PLAN: either one or more allowed read commands (no ACTION: the model sees their results on
  its next turn), or exactly one ``<|ACTION|>name<|END|>`` with ``name`` one of the actions.

``request.min_commands`` (a collection setting, ``routine.log_min_writes`` and
``plan_min_reads``) raises the floor: a LOG reply then opens with that many commands that
add content (APPEND, WRITE, UPSERT_MAP; any allowed command may follow, within the same bound),
and a PLAN reply holds that many reads, with no ACTION alternative.

With ``request.reasoning`` a single line of free text may come first. Free text (the reasoning
line, note text, search keywords, map keys) is printable ASCII without ``<`` or a backtick, so
it can neither open a tag nor a code fence; file names follow the memory store's rule
``[A-Za-z0-9][A-Za-z0-9_.-]*`` (without ``..``). Reads name one of ``memory_files`` when there
are any, and never one of ``empty_files``: reading an empty file tells nothing the prompt's
file list does not, so when every file is empty no read is offered (PLAN is then one ACTION).
Writes (APPEND, WRITE, CREATE) may also name a new file.

Every part is bounded so that the longest admitted reply fits in ``sampling.max_tokens``
(each token emits at least one byte, free text is ASCII): a constrained reply is complete by
construction, never cut off in the middle of a command. The bounds shrink with the budget
(see :func:`grammar_limits`); a budget too small for even one command still admits the
shortest complete reply (``<|DONE|>`` or one ACTION), unless ``min_commands`` asks for
commands: then it is an error (:class:`GrammarError`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from automem.core import CompletionRequest
from automem.memory.ops import (
    ACTION,
    APPEND,
    ARITY,
    CONTENT_WRITE_OPS,
    COUNT,
    CREATE,
    DONE,
    READ,
    READ_OPS,
    SEARCH,
    TAIL,
    UPSERT_MAP,
    WRITE,
    in_op_order,
)

# Printable ASCII except '<' (no tag can open) and '`' (no code fence).
_CHAR = r"[ -;=-_a-~]"
_FIRST = r"[!-;=-_a-~]"  # the same without the space: arguments are stripped by the parser
_KEY_CHAR = r"[ -;=-_a-{}~]"  # ... and without '|': a map key is not the last argument
_KEY_FIRST = r"[!-;=-_a-{}~]"
_NAME_STEM = 23  # a new file name: 1 + up to 23 stem characters + an optional ".ext" (<= 8)
_NAME_MAX = 1 + _NAME_STEM + 8
_TAIL_MAX = 2  # TAIL takes 1..99 lines

# Generous bounds, used when the token budget allows them.
_REASON_MAX = 160
_TEXT_MAX = 200
_KEYWORD_MAX = 40
_KEY_MAX = 24
_LOG_COMMANDS_MAX = 6
_PLAN_READS_MAX = 3
_MIN_REASON = 8  # a shorter reasoning line is not worth offering
_MIN_TEXT = 12  # text shorter than this is not worth a command
_GOOD_TEXT = 80  # more than two commands a reply only if each may still hold this much text


class GrammarError(ValueError):
    """A request whose grammar cannot exist (its floor of commands does not fit)."""


@dataclass(frozen=True)
class GrammarLimits:
    """The bounds a grammar was built with; ``max_bytes`` is the longest reply it admits."""

    budget: int
    reason: int
    text: int
    keyword: int
    key: int
    commands: int
    max_bytes: int


def build_gbnf(request: CompletionRequest) -> str:
    """The GBNF grammar of the replies the agent accepts for ``request`` (cached by shape)."""
    return _build(*_shape(request)).text


def grammar_limits(request: CompletionRequest) -> GrammarLimits:
    """The bounds :func:`build_gbnf` uses for ``request``."""
    return _build(*_shape(request)).limits


def _shape(
    request: CompletionRequest,
) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], bool, int, int]:
    """What the grammar depends on: everything but the messages and sampling temperature.

    Reads name the non-empty files only; with files that are all empty, no read is allowed."""
    empty = set(request.empty_files)
    readable = tuple(f for f in request.memory_files if f not in empty)
    ops = tuple(request.allowed_ops)
    if request.memory_files and not readable:  # every file is empty: nothing to read
        ops = tuple(op for op in ops if op not in READ_OPS)
    return (
        request.phase,
        ops,
        tuple(request.actions),
        readable,
        request.reasoning,
        request.sampling.max_tokens,
        request.min_commands,
    )


@dataclass(frozen=True)
class _Grammar:
    text: str
    limits: GrammarLimits


@functools.lru_cache(maxsize=256)
def _build(
    phase: str,
    allowed_ops: tuple[str, ...],
    actions: tuple[str, ...],
    memory_files: tuple[str, ...],
    reasoning: bool,
    max_tokens: int,
    min_commands: int = 0,
) -> _Grammar:
    allowed = set(allowed_ops)
    files = tuple(dict.fromkeys(f for f in memory_files if _is_plain_name(f)))
    if phase == "log":
        ops = [op for op in in_op_order(allowed) if op not in (DONE, ACTION)]
        reads_or_plan: list[str] = ops
        acts: tuple[str, ...] = ()
    else:
        reads_or_plan = [op for op in in_op_order(allowed & READ_OPS)]
        acts = tuple(dict.fromkeys(a for a in actions if _is_action(a)))
    # The token budget: one token is kept for the end-of-sequence token after the reply.
    budget = max(1, max_tokens - 1)
    limits = _fit(phase, reads_or_plan, acts, files, reasoning, budget, min_commands)
    floor_ops = [op for op in reads_or_plan if phase == "plan" or op in CONTENT_WRITE_OPS]
    if min_commands and (limits.commands < min_commands or not floor_ops):
        what = "writes" if phase == "log" else "reads"
        raise GrammarError(
            f"{phase.upper()} must issue at least {min_commands} {what}, but "
            + (
                f"max_tokens={max_tokens} leaves room for {limits.commands} commands"
                if floor_ops
                else f"no such command is allowed in this phase ({', '.join(allowed_ops)})"
            )
        )
    text = _render(phase, reads_or_plan, acts, files, reasoning, limits, min_commands)
    return _Grammar(text, limits)


# --------------------------------------------------------------------------- sizing


def _file_bytes(files: tuple[str, ...]) -> int:
    return max((len(f) for f in files), default=_NAME_MAX)


def _command_bytes(op: str, files: tuple[str, ...], text: int, keyword: int, key: int) -> int:
    """The longest ``<|OP|>args<|END|>`` the grammar admits for ``op``."""
    tags = len(op) + 4 + 7  # "<|OP|>" and "<|END|>"
    read_name = _file_bytes(files) if files else _NAME_MAX
    write_name = max(read_name, _NAME_MAX)
    body = {
        SEARCH: read_name + 1 + keyword,
        COUNT: read_name + 1 + keyword,
        READ: read_name,
        TAIL: read_name + 1 + _TAIL_MAX,
        APPEND: write_name + 1 + text,
        WRITE: write_name + 1 + text,
        CREATE: write_name,
        UPSERT_MAP: key + 1 + text,
    }[op]
    return tags + body


def _fit(
    phase: str,
    ops: list[str],
    actions: tuple[str, ...],
    files: tuple[str, ...],
    reasoning: bool,
    budget: int,
    min_commands: int = 0,
) -> GrammarLimits:
    """The most generous bounds whose longest reply fits in ``budget`` bytes."""
    # What every reply needs: <|DONE|> in LOG, the longest action line in PLAN.
    floor = len("<|DONE|>") if phase == "log" else _action_bytes(actions)
    reason = min(_REASON_MAX, budget // 5, budget - floor - 1) if reasoning else 0
    if reason < _MIN_REASON:
        reason = 0
    reason_bytes = reason + 1 if reason else 0  # the line and its newline
    if phase == "log":
        fixed = reason_bytes + len("<|DONE|>")
        wanted = _LOG_COMMANDS_MAX
    else:
        fixed = reason_bytes
        wanted = _PLAN_READS_MAX
    wanted = max(wanted, min_commands)
    room = budget - fixed
    text, keyword, key = _TEXT_MAX, _KEYWORD_MAX, _KEY_MAX
    count = 0
    if ops:
        # More commands while each keeps a useful length of text; at least one if it fits.
        for n in range(wanted, 0, -1):
            sized = _sized(ops, files, n, room, phase)
            if sized is not None and (n <= max(2, min_commands) or sized[0] >= _GOOD_TEXT):
                count, (text, keyword, key) = n, sized
                break
    limits = GrammarLimits(budget, reason, text, keyword, key, count, 0)
    return replace(limits, max_bytes=_max_bytes(phase, ops, actions, files, limits))


def _sized(
    ops: list[str], files: tuple[str, ...], n: int, room: int, phase: str
) -> tuple[int, int, int] | None:
    """(text, keyword, key) bounds letting ``n`` of the longest command fit in ``room``."""
    for text in range(_TEXT_MAX, _MIN_TEXT - 1, -4):
        keyword, key = min(_KEYWORD_MAX, text), min(_KEY_MAX, text)
        longest = max(_command_bytes(op, files, text, keyword, key) for op in ops)
        # LOG: each command is followed by a newline; PLAN: newlines only between reads.
        total = n * (longest + 1) if phase == "log" else n * longest + (n - 1)
        if total <= room:
            return text, keyword, key
    return None


def _max_bytes(
    phase: str,
    ops: list[str],
    actions: tuple[str, ...],
    files: tuple[str, ...],
    limits: GrammarLimits,
) -> int:
    reason = limits.reason + 1 if limits.reason else 0
    longest = max(
        (_command_bytes(op, files, limits.text, limits.keyword, limits.key) for op in ops),
        default=0,
    )
    if phase == "log":
        return reason + limits.commands * (longest + 1) + len("<|DONE|>")
    action = _action_bytes(actions)
    reads = limits.commands * longest + max(0, limits.commands - 1)
    return reason + max(action, reads)


def _action_bytes(actions: tuple[str, ...]) -> int:
    longest = max((len(a.encode()) for a in actions), default=_ACTION_TEXT_MAX)
    return len("<|ACTION|><|END|>") + longest


# --------------------------------------------------------------------------- rendering

_ACTION_TEXT_MAX = 40  # free-text action names, only when the env lists no actions


def _render(
    phase: str,
    ops: list[str],
    actions: tuple[str, ...],
    files: tuple[str, ...],
    reasoning: bool,
    limits: GrammarLimits,
    least: int = 0,
) -> str:
    lines: list[str] = []
    rule = lines.append
    prefix = "reason? " if limits.reason else ""
    used = ops if limits.commands else []
    if phase == "log":
        body = f'(cmd "\\n"){_rep(0, limits.commands - least)} ' if used else ""
        if least:  # the floor's writes first, then any commands within the bound
            body = f'(wcmd "\\n"){_rep(least, least)} ' + body
        rule(f'root ::= {prefix}{body}"<|{DONE}|>"')
    else:
        if used:
            rule(f"root ::= {prefix}{'reads' if least else '(action | reads)'}")
            more = limits.commands - 1
            rule(
                f'reads ::= cmd ("\\n" cmd){_rep(max(0, least - 1), more)}'
                if more
                else "reads ::= cmd"
            )
        else:
            rule(f"root ::= {prefix}action")
        if not least and actions:
            rule(f'action ::= "<|{ACTION}|>" act "<|END|>"')
            rule("act ::= " + " | ".join(_literal(a) for a in actions))
        elif not least:
            free = _bounded(_FIRST, _KEY_CHAR, _ACTION_TEXT_MAX)
            rule(f'action ::= "<|{ACTION}|>" {free} "<|END|>"')
    if limits.reason:
        rule(f'reason ::= {_bounded(_FIRST, _CHAR, limits.reason)} "\\n"')
    if used and least and phase == "log":
        rule("wcmd ::= " + " | ".join(_rule_name(op) for op in used if op in CONTENT_WRITE_OPS))
    if used:
        rule("cmd ::= " + " | ".join(_rule_name(op) for op in used))
        for op in used:
            rule(f"{_rule_name(op)} ::= {_command(op, files)}")
        if any(op in (SEARCH, READ, TAIL, COUNT) for op in used):
            rule("file ::= " + (" | ".join(_literal(f) for f in files) if files else "name"))
        if any(op in (APPEND, WRITE, CREATE) for op in used) or (
            not files and any(op in READ_OPS for op in used)
        ):
            rule(
                f"name ::= [A-Za-z0-9] [A-Za-z0-9_-]{_rep(0, _NAME_STEM)} "
                f'("." [A-Za-z0-9_-]{_rep(1, 7)})?'
            )
        if any(op in (APPEND, WRITE, UPSERT_MAP) for op in used):
            rule(f"text ::= {_bounded(_FIRST, _CHAR, limits.text)}")
        if any(op in (SEARCH, COUNT) for op in used):
            rule(f"keyword ::= {_bounded(_FIRST, _CHAR, limits.keyword)}")
        if UPSERT_MAP in used:
            rule(f"key ::= {_bounded(_KEY_FIRST, _KEY_CHAR, limits.key)}")
    return "\n".join(lines) + "\n"


def _command(op: str, files: tuple[str, ...]) -> str:
    args = {
        SEARCH: 'file "|" keyword',
        COUNT: 'file "|" keyword',
        READ: "file",
        TAIL: 'file "|" [1-9] [0-9]?',
        APPEND: 'name "|" text',
        WRITE: 'name "|" text',
        CREATE: "name",
        UPSERT_MAP: 'key "|" text',
    }[op]
    assert ARITY[op] == args.count('"|"') + 1
    return f'"<|{op}|>" {args} "<|END|>"'


def _rule_name(op: str) -> str:
    return op.lower().replace("_", "-")


def _rep(low: int, high: int) -> str:
    return f"{{{low},{high}}}"


def _bounded(first: str, char: str, most: int) -> str:
    """One ``first`` character then up to ``most - 1`` of ``char``."""
    return first if most <= 1 else f"{first} {char}{_rep(0, most - 1)}"


def _literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def _is_plain_name(name: str) -> bool:
    return bool(name) and all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)


def _is_action(name: str) -> bool:
    """Whether ``name`` survives the round trip through ``<|ACTION|>name<|END|>`` verbatim."""
    return bool(name.strip()) and name == name.strip() and "<|" not in name and "\n" not in name


__all__ = ["GrammarError", "GrammarLimits", "build_gbnf", "grammar_limits"]
