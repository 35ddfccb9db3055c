"""The six post-processing rules of method.md, the action-only drop and the final check."""

from __future__ import annotations

import pytest

from automem.train import Example, postprocess
from automem.train.examples import ChatMessage, Provenance
from automem.train.postprocess import postprocess_one, violations


def example(phase: str, reply: str, step: int = 3) -> Example:
    return Example(
        episode_id="ep",
        step=step,
        phase=phase,
        messages=(
            ChatMessage(role="system", content="You manage memory files."),
            ChatMessage(role="user", content="You see a tree. Files: notes (0 lines)."),
            ChatMessage(role="assistant", content=reply),
        ),
        provenance=Provenance(trace="runs/x/episodes/ep/trace.jsonl", call_id=f"{step}/{phase}/0"),
    )


def kept_reply(phase: str, reply: str) -> str:
    result, _ = postprocess_one(example(phase, reply))
    assert isinstance(result, Example), result
    return result.reply


def drop_rule(phase: str, reply: str) -> str:
    result, _ = postprocess_one(example(phase, reply))
    assert not isinstance(result, Example), f"kept: {result.reply!r}"
    return result.rule


def test_rule1_unwraps_fences_around_command_tags() -> None:
    reply = "Noting it.\n```text\n<|APPEND|>notes|tree at 3,4<|END|>\n```"
    assert kept_reply("log", reply) == "Noting it.\n<|APPEND|>notes|tree at 3,4<|END|>"
    _, changed = postprocess_one(example("log", reply))
    assert changed == [1]


def test_rule1_leaves_fences_without_commands_so_rule6_drops_them() -> None:
    reply = "<|APPEND|>notes|x<|END|>\n```python\nprint(1)\n```"
    # Rule 5 cuts the trailing block first; put the fence before the last command instead.
    assert kept_reply("log", reply) == "<|APPEND|>notes|x<|END|>"
    fenced_prose = "```\nplain prose\n``` <|APPEND|>notes|x<|END|>"
    assert drop_rule("log", fenced_prose) == "6"


def test_rule2_log_cuts_after_done() -> None:
    reply = "<|APPEND|>notes|tree<|END|>\n<|DONE|>\nThanks! <|WRITE|>strategy|go<|END|>"
    assert kept_reply("log", reply) == "<|APPEND|>notes|tree<|END|>\n<|DONE|>"
    # DONE written with an explicit <|END|> keeps it.
    assert kept_reply("log", "<|READ|>notes<|END|><|DONE|><|END|> bye") == (
        "<|READ|>notes<|END|><|DONE|><|END|>"
    )


def test_rule2_is_log_only() -> None:
    # In PLAN, DONE is not the phase's end: nothing is cut at it (rule 5 still applies).
    reply = "<|SEARCH|>notes|tree<|END|><|DONE|><|READ|>strategy<|END|>"
    assert kept_reply("plan", reply) == reply


def test_rule3_plan_strips_the_action() -> None:
    reply = "<|SEARCH|>notes|tree<|END|>\n<|ACTION|>do<|END|>"
    assert kept_reply("plan", reply) == "<|SEARCH|>notes|tree<|END|>"
    between = "<|READ|>notes<|END|> <|ACTION|>noop<|END|> <|TAIL|>notes|3<|END|>"
    assert kept_reply("plan", between) == "<|READ|>notes<|END|>  <|TAIL|>notes|3<|END|>"


def test_rule4_drops_replies_left_with_no_memory_command() -> None:
    assert drop_rule("log", "<|DONE|>") == "4"
    assert drop_rule("log", "Nothing worth noting.") == "4"
    # A memory command after DONE is cut by rule 2, so nothing is left.
    assert drop_rule("log", "<|DONE|><|APPEND|>notes|late<|END|>") == "4"
    # An unknown op is not a memory command.
    assert drop_rule("log", "<|DELETE|>notes<|END|><|DONE|>") == "4"


def test_action_only_plan_items_are_dropped_with_their_own_reason() -> None:
    assert drop_rule("plan", "I will move.\n<|ACTION|>move_left<|END|>") == "action-only"
    assert drop_rule("plan", "```\n<|ACTION|>noop<|END|>\n```") == "action-only"
    assert drop_rule("plan", "no command at all") == "action-only"


def test_rule5_cuts_after_the_last_terminator() -> None:
    assert kept_reply("log", "<|APPEND|>notes|a<|END|> and that is all.") == (
        "<|APPEND|>notes|a<|END|>"
    )
    # A command the parser had to close (no <|END|>) is not terminated: it is cut.
    assert kept_reply("log", "<|APPEND|>notes|a<|END|><|APPEND|>notes|b") == (
        "<|APPEND|>notes|a<|END|>"
    )
    # A bare <|DONE|> terminates.
    assert kept_reply("log", "<|APPEND|>notes|a<|END|><|DONE|> ok") == (
        "<|APPEND|>notes|a<|END|><|DONE|>"
    )


def test_rule6_drops_replies_that_still_hold_a_fence() -> None:
    # An unpaired fence: rule 1 has no block to unwrap, rule 5 has nothing after it to cut.
    assert drop_rule("log", "<|APPEND|>notes|a<|END|>\n```\n<|APPEND|>notes|b<|END|>") == "6"
    # A fence inside a command's text is no block around a command either.
    assert drop_rule("log", "<|APPEND|>notes|```x```<|END|>") == "6"


def test_final_check_drops_what_the_rules_leave_broken() -> None:
    # A LOG reply may hold an ACTION before its DONE: rule 3 is PLAN-only, the check drops it.
    result, _ = postprocess_one(example("log", "<|APPEND|>n|a<|END|><|ACTION|>x<|END|><|DONE|>"))
    assert not isinstance(result, Example)
    assert result.rule == "check"
    assert "an ACTION" in result.reason


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("<|DONE|>", "no memory command"),
        ("<|READ|>notes<|END|>```", "a code fence"),
        ("<|READ|>notes<|END|><|ACTION|>x<|END|>", "an ACTION"),
        ("<|READ|>notes<|END|> tail", "text after the last command terminator"),
    ],
)
def test_violations_names_each_problem(reply: str, problem: str) -> None:
    assert problem in violations(example("log", reply))


def test_postprocess_counts_edits_and_drops_and_keeps_everything_else() -> None:
    items = [
        example("log", "```\n<|APPEND|>notes|a<|END|>\n```\n<|DONE|> bye", step=1),
        example("plan", "<|SEARCH|>notes|a<|END|><|ACTION|>noop<|END|>", step=1),
        example("plan", "<|ACTION|>noop<|END|>", step=2),
        example("log", "<|DONE|>", step=2),
        example("log", "<|TAIL|>notes|5<|END|>", step=3),
    ]
    result = postprocess(items)
    assert [e.reply for e in result.kept] == [
        "<|APPEND|>notes|a<|END|>\n<|DONE|>",
        "<|SEARCH|>notes|a<|END|>",
        "<|TAIL|>notes|5<|END|>",
    ]
    assert result.drops_by_rule() == {"action-only": 1, "4": 1}
    assert result.edits == {1: 1, 2: 1, 3: 1}
    assert all(not violations(e) for e in result.kept)
    # Only the reply changes: the prompt and provenance are verbatim.
    assert result.kept[0].messages[:-1] == items[0].messages[:-1]
    assert result.kept[0].provenance == items[0].provenance
