"""The rules reviewer's own figures, on trace records built to show each case."""

from __future__ import annotations

from automem.optimize.rules_diagnosis import _crafter, _missing_reads, _revisits
from automem.traces.schema import CommandRecord, ObservationRecord, StepRecord


def obs(step: int, x: int, y: int) -> ObservationRecord:
    return ObservationRecord(step=step, text=f"message:\n\ncursor:\nYourself\n(x={x}, y={y})\n")


def step(n: int, action: str = "north", **info: object) -> StepRecord:
    return StepRecord(
        step=n,
        proposed=action,
        action=action,
        valid=True,
        reward=0.0,
        progression=0.0,
        terminated=False,
        truncated=False,
        info=dict(info),
    )


def test_revisits_count_arrivals_at_a_cell_seen_before_on_the_same_level() -> None:
    cells = [(1, 1), (2, 1), (2, 1), (1, 1), (1, 1), (2, 1)]
    observations = [obs(i, *c) for i, c in enumerate(cells)]
    depths = [1, 1, 1, 2, 2]  # the step before observation 4 took the stairs: a new level
    steps = [step(i, depth=d) for i, d in enumerate(depths)]
    # 0 (1,1)  1 (2,1)  2 stays (no revisit)  3 back on (1,1): revisit  4 level 2 (1,1): new
    # 5 level 2 (2,1): new
    assert _revisits(observations, steps) == 1


def test_revisits_of_a_game_without_a_cursor_are_repeated_observation_texts() -> None:
    texts = ["a", "b", "a", "a", "c", "b"]
    observations = [ObservationRecord(step=i, text=t) for i, t in enumerate(texts)]
    assert _revisits(observations, []) == 2  # step 2 (a) and step 5 (b); step 3 stays


def command(n: int, op: str, name: str, ok: bool) -> CommandRecord:
    args = (name, "text") if op == "APPEND" else (name,)
    return CommandRecord(step=n, phase="plan", turn=0, op=op, args=args, ok=ok, result="")


def test_a_read_is_of_a_missing_file_only_before_the_file_exists() -> None:
    commands = [
        command(0, "READ", "goals", False),
        command(1, "TAIL", "goals", False),
        command(2, "READ", "strategy", False),  # an initial file: refused for another reason
        command(3, "APPEND", "goals", True),
        command(4, "READ", "goals", False),
    ]
    assert _missing_reads({"strategy": ""}, commands) == {"goals": 2}


def test_a_craft_failed_when_nothing_but_vitals_changed() -> None:
    full = {"health": 9, "food": 9, "drink": 9, "energy": 9}
    steps = [
        step(0, "Noop", inventory={**full, "wood": 1}),
        step(1, "Make Wood Pickaxe", inventory={**full, "food": 8, "wood": 1}),  # failed
        step(2, "Place Table", inventory={**full, "wood": 0}),  # wood used: worked
        step(3, "Make Wood Sword", inventory={**full}, achievements_unlocked=[]),  # failed
        step(4, "Place Stone", inventory={**full, "drink": 2}, achievements_unlocked=["x"]),
    ]
    figures = _crafter(steps, wrote={3})
    assert figures["crafts"] == 4 and figures["failed_crafts"] == 2
    assert figures["low_vital_steps"] == 1  # drink 2 at step 4
    # one inventory change (step 2, wood): the LOG of step 3 wrote about it
    assert figures["inventory_changes"] == 1 and figures["unlogged_changes"] == 0
    assert not figures["died"]
