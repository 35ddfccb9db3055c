"""Each selection signal on traces made by the real inner loop with replayed replies."""

from __future__ import annotations

from pathlib import Path

from automem.core import Observation
from automem.runs.reader import EpisodeReader
from automem.train.criteria import SelectCriteria
from automem.train.episode import EpisodeData, Turn
from automem.train.signals import (
    SignalParams,
    consistent,
    contradicted,
    empty_read,
    empty_search,
    redundant,
    refused,
    repeated_read,
    retrieved,
    unparseable,
)
from tests.conftest import LineEnv, play

PARAMS = SignalParams()
RIGHT, LEFT, DONE = "<|ACTION|>right<|END|>", "<|ACTION|>left<|END|>", "<|DONE|>"


def episode(folder: Path, replies: list[str], steps: int, env: LineEnv | None = None):
    play(folder, replies, max_steps=steps, env=env)
    return EpisodeData.read(EpisodeReader("e", folder))


def turn(data: EpisodeData, call_id: str) -> Turn:
    found = data.turn(call_id)
    if found is None:
        raise LookupError(f"no call {call_id}")
    return found


def append(text: str, file: str = "map_notes") -> str:
    return f"<|APPEND|>{file}|{text}<|END|>"


# --------------------------------------------------------------------------- retrieved_write


def test_a_write_read_back_before_progress_is_retrieved(tmp_path: Path) -> None:
    replies = [
        RIGHT,  # step 0: pos 0 -> 1
        append("walking right moves me forward") + DONE,  # step 1 LOG: the write
        "<|SEARCH|>map_notes|forward<|END|>",  # step 1 PLAN: reads it back
        RIGHT,  # ... and progresses (pos 1 -> 2)
    ]
    data = episode(tmp_path, replies, steps=2)
    hits = retrieved.hits(turn(data, "1/log/0"), data, PARAMS)
    assert len(hits) == 1
    assert "retrieved by SEARCH at step 1, progress at step 1" in hits[0].detail
    assert retrieved.hits(turn(data, "1/plan/0"), data, PARAMS) == []  # the read wrote nothing


def test_a_write_read_back_before_no_progress_is_not_retrieved(tmp_path: Path) -> None:
    replies = [RIGHT, append("walking right moves me forward") + DONE]
    replies += ["<|SEARCH|>map_notes|forward<|END|>", LEFT]  # read, then move back: no progress
    data = episode(tmp_path, replies, steps=2)
    assert retrieved.hits(turn(data, "1/log/0"), data, SignalParams(horizon=1)) == []


def test_a_read_of_another_file_does_not_retrieve_the_write(tmp_path: Path) -> None:
    replies = [RIGHT, append("right moves me forward") + append("right moves", "strategy") + DONE]
    replies += ["<|READ|>strategy<|END|>", RIGHT]
    data = episode(tmp_path, replies, steps=2)
    [hit] = retrieved.hits(turn(data, "1/log/0"), data, PARAMS)
    assert hit.detail.startswith("strategy:")  # the map_notes write is not credited


def test_progress_within_the_horizon_counts_and_outside_it_does_not(tmp_path: Path) -> None:
    replies = [
        RIGHT,
        append("the corridor goes on") + DONE,
        "<|READ|>map_notes<|END|>",
        "<|ACTION|>wait<|END|>",
    ]
    replies += [DONE, RIGHT]  # step 2: the progress, one step after the read
    data = episode(tmp_path, replies, steps=3)
    write = turn(data, "1/log/0")
    assert retrieved.hits(write, data, SignalParams(horizon=1)) == []
    assert len(retrieved.hits(write, data, SignalParams(horizon=2))) == 1


# --------------------------------------------------------------------------- consistent_search


def test_a_search_whose_result_names_the_action_is_consistent(tmp_path: Path) -> None:
    replies = [RIGHT, append("go right to reach the end") + DONE]
    replies += ["<|SEARCH|>map_notes|reach<|END|>", RIGHT]
    data = episode(tmp_path, replies, steps=2)
    [hit] = consistent.hits(turn(data, "1/plan/0"), data, PARAMS)
    assert "then 'right' (shares 'right')" in hit.detail


def test_a_search_the_action_ignores_is_not_consistent(tmp_path: Path) -> None:
    replies = [RIGHT, append("go right to reach the end") + DONE]
    replies += ["<|SEARCH|>map_notes|reach<|END|>", LEFT]
    data = episode(tmp_path, replies, steps=2)
    assert consistent.hits(turn(data, "1/plan/0"), data, PARAMS) == []


def test_an_empty_search_is_never_consistent(tmp_path: Path) -> None:
    replies = [RIGHT, DONE, "<|SEARCH|>map_notes|right<|END|>", RIGHT]
    data = episode(tmp_path, replies, steps=2)
    assert consistent.hits(turn(data, "1/plan/0"), data, PARAMS) == []


def test_content_words_drop_the_verb_and_short_words() -> None:
    assert consistent.content_words("Make Wood Pickaxe") == {"wood", "pickaxe"}
    assert consistent.content_words("Move West") == {"west"}
    assert consistent.content_words("north") == {"north"}
    assert consistent.content_words("Do") == set()


# --------------------------------------------------------------------------- penalties


def test_an_append_of_a_line_the_file_holds_is_redundant(tmp_path: Path) -> None:
    replies = [RIGHT, append("cell one") + DONE, RIGHT, append("cell one") + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=3)
    assert redundant.hits(turn(data, "1/log/0"), data, PARAMS) == []
    [hit] = redundant.hits(turn(data, "2/log/0"), data, PARAMS)
    assert "APPEND 'map_notes|cell one'" in hit.detail


def test_a_write_that_changes_nothing_is_redundant(tmp_path: Path) -> None:
    write = "<|WRITE|>strategy|go right<|END|>"
    replies = [RIGHT, write + DONE, RIGHT, write + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=3)
    assert redundant.hits(turn(data, "1/log/0"), data, PARAMS) == []
    assert len(redundant.hits(turn(data, "2/log/0"), data, PARAMS)) == 1


def test_a_search_that_matches_nothing_is_empty(tmp_path: Path) -> None:
    replies = [RIGHT, append("cell one") + DONE, "<|SEARCH|>map_notes|dragon<|END|>", RIGHT]
    replies += [DONE, "<|SEARCH|>map_notes|cell<|END|>", RIGHT]
    data = episode(tmp_path, replies, steps=3)
    [hit] = empty_search.hits(turn(data, "1/plan/0"), data, PARAMS)
    assert hit.detail == "SEARCH 'map_notes|dragon'"
    assert empty_search.hits(turn(data, "2/plan/0"), data, PARAMS) == []


def test_a_count_that_matches_nothing_is_an_empty_search(tmp_path: Path) -> None:
    replies = [RIGHT, append("cell one") + "<|COUNT|>map_notes|dragon<|END|>" + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=2)
    [hit] = empty_search.hits(turn(data, "1/log/0"), data, PARAMS)
    assert hit.detail == "COUNT 'map_notes|dragon'"


def test_a_read_of_a_file_empty_at_that_time_is_penalised(tmp_path: Path) -> None:
    read = "<|READ|>map_notes<|END|>"
    replies = [read, RIGHT, append("cell one") + DONE, read, RIGHT]
    data = episode(tmp_path, replies, steps=2)
    [hit] = empty_read.hits(turn(data, "0/plan/0"), data, PARAMS)
    assert hit.detail == "READ 'map_notes'"
    assert empty_read.hits(turn(data, "1/plan/0"), data, PARAMS) == []  # written since


def test_a_read_repeated_within_a_conversation_is_penalised(tmp_path: Path) -> None:
    search = "<|SEARCH|>map_notes|cell<|END|>"
    replies = [RIGHT, append("cell one") + DONE, search + search, search, RIGHT]
    replies += [search + append("cell two") + search + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=3)
    [hit] = repeated_read.hits(turn(data, "1/plan/0"), data, PARAMS)  # twice in one reply
    assert hit.detail == "SEARCH 'map_notes|cell' again"
    assert len(repeated_read.hits(turn(data, "1/plan/1"), data, PARAMS)) == 1  # next turn
    # Step 2 LOG: a new conversation, and a write between the two searches: no repeat.
    assert repeated_read.hits(turn(data, "2/log/0"), data, PARAMS) == []


def test_a_refused_command_is_penalised(tmp_path: Path) -> None:
    replies = [RIGHT, "<|ACTION|>right<|END|>", DONE, RIGHT]  # an ACTION in LOG is refused
    data = episode(tmp_path, replies, steps=2)
    [hit] = refused.hits(turn(data, "1/log/0"), data, PARAMS)
    assert hit.detail.startswith("ACTION: ERROR: ACTION is not allowed in LOG")
    assert refused.hits(turn(data, "1/log/1"), data, PARAMS) == []


def test_a_reply_without_any_command_is_unparseable(tmp_path: Path) -> None:
    replies = [RIGHT, "I think I will note nothing.", DONE, RIGHT]
    data = episode(tmp_path, replies, steps=2)
    [hit] = unparseable.hits(turn(data, "1/log/0"), data, PARAMS)
    assert "I think I will note nothing." in hit.detail
    assert unparseable.hits(turn(data, "1/log/1"), data, PARAMS) == []


class VitalsEnv(LineEnv):
    """The corridor, with Crafter-style vitals and inventory in the short-term observation."""

    def _obs(self) -> Observation:
        status = "Your status:\n- health: 9/9\n- food: 7/9\n\nYour inventory:\n- wood: 2"
        return Observation(text=f"You are at cell {self.pos} of {self.length}.", short_term=status)


def test_a_number_the_observation_contradicts_is_caught(tmp_path: Path) -> None:
    replies = [RIGHT, append("health: 5 after the fight") + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=2, env=VitalsEnv())
    [hit] = contradicted.hits(turn(data, "1/log/0"), data, PARAMS)
    assert "says health 5, the observation 9" in hit.detail


def test_numbers_the_observation_agrees_with_are_not_contradicted(tmp_path: Path) -> None:
    # health 9/9 and food = 7 agree; "wood 2 steps north" is a distance, not a claim.
    line = "health 9/9, food = 7, wood 3 steps north, Wood: 2"
    replies = [RIGHT, append(line) + DONE, RIGHT]
    data = episode(tmp_path, replies, steps=2, env=VitalsEnv())
    assert contradicted.hits(turn(data, "1/log/0"), data, PARAMS) == []


def test_facts_and_claims_parse_the_stated_forms() -> None:
    seen = contradicted.facts("Your status:\n- health: 9/9\n- stone pickaxe: 1\nYou see: a tree")
    assert seen == {"health": 9, "stone pickaxe": 1}
    assert contradicted.claims("Health: 4, health=3, health 2/9, health 5", "health") == [4, 3, 2]
    assert contradicted.claims("unhealthy: 4", "health") == []


def test_every_signal_has_a_weight_and_a_definition() -> None:
    criteria = SelectCriteria()
    described = criteria.described()
    assert set(described["signals"]) == set(criteria.weights)
    assert all(len(text) > 40 for text in described["signals"].values())
