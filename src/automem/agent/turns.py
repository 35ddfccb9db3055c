"""Bounds on one model turn: the reply text the agent reads, the commands it runs, the results
it shows. A reply is untrusted input of any size and content; whatever it holds, the agent
does a bounded amount of work and records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automem.memory import Command, MemoryLimits
from automem.memory.text import plural, without_surrogates

MAX_NOTES = 64  # normalisation notes recorded per reply; the rest are counted in one more
_MIN_CUT = 200  # a result cut shorter than this is withheld instead: a stub helps nobody


@dataclass(frozen=True)
class Reply:
    """A model reply as the agent reads it, and the notices of the caps it hit."""

    text: str
    notes: tuple[str, ...]  # normalisations, recorded with the call like the parser's
    notices: tuple[str, ...]  # told to the model with the turn's results
    cut_from: int | None  # the reply's length, when it was cut


def read_reply(text: str, max_chars: int) -> Reply:
    """``text`` cut to ``max_chars`` and made recordable: any text a model sends can be stored."""
    notes: list[str] = []
    notices: list[str] = []
    cut_from = None
    if len(text) > max_chars:
        cut_from = len(text)
        text = text[:max_chars]
        notes.append(f"cut the reply to its first {max_chars} of {cut_from} characters")
        notices.append(
            f"NOTICE: your reply was {cut_from} characters; only the first {max_chars} were read "
            f"(limit {max_chars}). Write shorter replies."
        )
    text, replaced = without_surrogates(text)
    if replaced:
        notes.append(f"replaced {plural(replaced, 'lone surrogate')} with U+FFFD")
    return Reply(text, tuple(notes), tuple(notices), cut_from)


def bounded_notes(notes: tuple[str, ...]) -> tuple[str, ...]:
    if len(notes) <= MAX_NOTES:
        return notes
    return (*notes[: MAX_NOTES - 1], f"... and {len(notes) - MAX_NOTES + 1} more normalisations")


Event = tuple[str, str, dict[str, Any]]  # kind, message, data of a trace event


def bound_turn(
    reply: Reply, parsed: tuple[Command, ...], limits: MemoryLimits
) -> tuple[list[Command], TurnResults, list[Event]]:
    """The commands of a reply that run (the first ``max_commands_per_reply``), the turn's
    results holding the notices of every cap the reply hit, and a trace event per cap."""
    events: list[Event] = []
    notices = list(reply.notices)
    if reply.cut_from is not None:
        message = f"reply of {reply.cut_from} characters cut to {limits.max_reply_chars}"
        events.append(("reply_cut", message, {"chars": reply.cut_from}))
    cap = limits.max_commands_per_reply
    if len(parsed) > cap:
        dropped = len(parsed) - cap
        notices.append(
            f"NOTICE: your reply had {len(parsed)} commands; only the first {cap} were run and "
            f"{dropped} were dropped (limit {cap} per reply). Issue fewer commands per reply."
        )
        message = f"{dropped} command(s) past the cap of {cap} per reply were not run"
        events.append(("commands_dropped", message, {"commands": len(parsed), "cap": cap}))
    return list(parsed[:cap]), TurnResults(limits.max_result_chars_per_turn, notices), events


@dataclass
class TurnResults:
    """The results one reply is shown, in order, within a budget of characters, then notices."""

    budget: int
    notices: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    used: int = 0
    cut: int = 0  # results cut to fit the budget
    withheld: int = 0  # results not shown at all: the budget was spent

    def add(self, result: str, label: str = "") -> None:
        line = f"[{label}] {result}" if label else result
        left = self.budget - self.used
        if len(line) <= left:
            self.shown.append(line)
            self.used += len(line)
            return
        limit = f"this turn's results reached their limit of {self.budget} characters"
        if left >= _MIN_CUT:
            self.cut += 1
            self.shown.append(
                f"{line[:left]}\n[... {len(line) - left} more characters cut: {limit}]"
            )
            self.used = self.budget
            return
        self.withheld += 1
        head = f"[{label}] " if label else ""
        self.shown.append(f"{head}[result not shown: {limit}; repeat the command to see it]")

    def lines(self, empty: str) -> list[str]:
        """What the model is shown: the results (or ``empty`` if there were none), then notices."""
        return [*(self.shown or [empty]), *self.notices]

    def cut_event(self) -> Event | None:
        """The trace event of a turn whose results passed the budget, or None."""
        if not (self.cut or self.withheld):
            return None
        message = (
            f"{self.cut} result(s) cut and {self.withheld} withheld: the turn's results passed "
            f"{self.budget} characters"
        )
        return "results_cut", message, {"cut": self.cut, "withheld": self.withheld}


def show_command(command: Command, width: int = 60) -> str:
    """A command as a short label for its result line."""
    text = "|".join((command.op, *command.args))
    return text if len(text) <= width else text[: width - 3] + "..."
