"""Two-model PLAN: the memory model consults memory, then hands off to the action model.

In a two-model run (:mod:`automem.models.roles`) the memory model (the specialist) answers
all of LOG and the first turns of PLAN, running their read commands. Its part of PLAN ends
when it would commit an ACTION, when a reply issues no command, when its call fails (under
``on_model_error: fallback``; ``stop`` ends the episode as always), or at its cap of
``plan_turn_cap - 1`` turns (the action model always keeps at least one turn).
Then the ACTION it wrote (and whatever follows it) is dropped from the conversation, a
hand-off message with the turn's results is appended, and the action model (the base)
continues the same conversation and commits, reading more first if it wants. The trace keeps
the specialist's reply verbatim in its call record; the conversation the action model sees
holds the reply without the ACTION, and a ``handoff`` event says why and what was dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from automem.agent.turns import TurnResults, show_command
from automem.memory import Command, Op
from automem.models.roles import MEMORY

if TYPE_CHECKING:
    from automem.agent.loop import Episode

HandOff = Literal["commit", "no_commands", "cap", "model_error"]
HANDOFF_NOTE = (
    "Memory consultation is over. Now commit your action with <|ACTION|>action name<|END|> "
    "(you may still read memory first)."
)
NO_RESULTS = "(no command results this turn)"


def consult_memory(episode: Episode, step: int, conversation: list[int], cap: int) -> int:
    """The memory model's turns of a PLAN phase; returns the turn the action model starts at.

    The conversation ends with the hand-off message when this returns.
    """
    allowed = episode.scaffold.vocabulary.plan
    turns = cap - 1
    if turns < 1:
        return 0  # a cap of one turn leaves the whole PLAN to the action model
    results = TurnResults(0)
    reason: HandOff = "cap"
    dropped: list[Command] = []
    turn = 0
    for turn in range(turns):
        called = episode._call(step, "plan", turn, conversation, allowed, MEMORY)
        if called is None:
            reason = "model_error"
            break
        commands, results = called
        at = next((i for i, c in enumerate(commands) if c.op == Op.ACTION), len(commands))
        for command in commands[:at]:
            results.add(
                episode._execute(step, "plan", turn, command, allowed), show_command(command)
            )
        if at < len(commands):
            reason, dropped = "commit", commands[at:]
            _drop_action(episode, step, conversation, commands, at)
            break
        if not commands:
            reason = "no_commands"
            break
        if turn < turns - 1:
            episode._continue(step, "plan", conversation, results, cap - turn - 1)
            results = TurnResults(0)  # shown: the hand-off repeats none of them
    _hand_off(episode, step, conversation, results, reason, dropped, cap - turn - 1)
    return turn + 1


def _drop_action(
    episode: Episode, step: int, conversation: list[int], commands: list[Command], at: int
) -> None:
    """Replace the reply in the conversation by its text before the ACTION (the verbatim reply
    stays in the trace, as the call's response)."""
    reply = episode._contents[conversation[-1]].content
    start = 0
    for command in commands[:at]:
        found = reply.find(command.raw, start)
        start = found + len(command.raw) if found >= 0 else start
    cut = reply.find(commands[at].raw, start)
    kept = reply[: cut if cut >= 0 else start].rstrip()
    conversation.pop()
    if kept:  # a reply that was only an ACTION leaves nothing of the specialist's turn
        conversation.append(episode._message(step, "plan", "assistant", kept))


def _hand_off(
    episode: Episode,
    step: int,
    conversation: list[int],
    results: TurnResults,
    reason: HandOff,
    dropped: list[Command],
    left: int,
) -> None:
    episode._event(
        step,
        "handoff",
        f"memory model handed PLAN to the action model: {reason.replace('_', ' ')}",
        {"reason": reason, "dropped": [c.raw for c in dropped], "turns_left": left},
    )
    if (cut := results.cut_event()) is not None:
        episode._event(step, *cut)
    reply = episode.prompts.render(
        "plan_continue",
        **episode._static,
        results=[*results.lines(NO_RESULTS), HANDOFF_NOTE],
        turns_left=left,
        step=step,
    )
    conversation.append(episode._message(step, "plan", "user", reply))


__all__ = ["HANDOFF_NOTE", "consult_memory"]
