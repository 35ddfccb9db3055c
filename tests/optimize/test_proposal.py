"""Proposal checks on the built-in scaffolds and modified copies of them."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from automem.optimize import (
    CheckedProposal,
    ProposalRejected,
    ask_until_valid,
    check_proposal,
    duplicate_ratio,
    structural_changes,
)
from automem.scaffold import HelperConfig, Scaffold, dump, load

BUILTIN = ("crafter-v0", "minihack-v0", "nethack-v0")


def revision(parent: Scaffold, edit: Callable[[dict[str, Any]], None], name: str = "r1") -> str:
    """The YAML text of ``parent`` revised by ``edit`` (a function of the plain data)."""
    data = parent.model_dump(mode="json")
    data["name"], data["parent"] = name, parent.name
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def add_helper(data: dict[str, Any]) -> None:
    data["helpers"].append({"name": "stuck_detector", "params": {}})


def rejected(result: CheckedProposal | ProposalRejected) -> list[str]:
    assert isinstance(result, ProposalRejected), f"accepted: {result}"
    return result.reasons


@pytest.mark.parametrize("name", BUILTIN)
def test_adding_a_helper_is_structural_and_accepted(name: str) -> None:
    parent = load(name)
    result = check_proposal(revision(parent, add_helper), parent, [parent])
    assert isinstance(result, CheckedProposal)
    assert result.changes == ["helpers: 'stuck_detector' switched on"]
    assert result.scaffold.parent == name and result.scaffold.name == "r1"


@pytest.mark.parametrize("name", BUILTIN)
def test_wording_only_is_refused(name: str) -> None:
    parent = load(name)

    def reword(data: dict[str, Any]) -> None:
        data["prompts"]["plan_system"] += "\nThink about your next action carefully."
        data["description"] = "a better description"
        data["files"][0]["purpose"] = "reworded purpose"

    reasons = rejected(check_proposal(revision(parent, reword), parent))
    assert len(reasons) == 1 and reasons[0].startswith("structure: no structural change")


def test_removing_done_from_log_is_refused_by_the_schema() -> None:
    parent = load("crafter-v0")

    def drop_done(data: dict[str, Any]) -> None:
        data["vocabulary"]["log"].remove("DONE")

    reasons = rejected(check_proposal(revision(parent, drop_done), parent))
    assert len(reasons) == 1
    assert "vocabulary.log must include DONE" in reasons[0] and "\n" not in reasons[0]


def test_a_write_op_in_plan_breaks_the_two_phase_rule() -> None:
    parent = load("minihack-v0")

    def append_in_plan(data: dict[str, Any]) -> None:
        data["vocabulary"]["plan"].append("APPEND")

    reasons = rejected(check_proposal(revision(parent, append_in_plan), parent))
    assert len(reasons) == 1 and "vocabulary.plan may not include" in reasons[0]
    assert "APPEND" in reasons[0] and "written only in LOG" in reasons[0]


def test_log_without_any_write_op_is_not_model_driven() -> None:
    parent = load("crafter-v0")

    def reads_only(data: dict[str, Any]) -> None:
        data["vocabulary"]["log"] = ["READ", "DONE"]

    reasons = rejected(check_proposal(revision(parent, reads_only), parent))
    assert reasons == [
        "vocabulary.log: keep at least one write op (APPEND, CREATE, UPSERT_MAP, WRITE): "
        "the model writes its memory in LOG"
    ]


def test_plan_without_any_read_op_is_refused() -> None:
    parent = load("nethack-v0")

    def blind_plan(data: dict[str, Any]) -> None:
        data["vocabulary"]["plan"] = ["ACTION"]

    reasons = rejected(check_proposal(revision(parent, blind_plan), parent))
    assert len(reasons) == 1 and reasons[0].startswith("vocabulary.plan: keep at least one read")


def test_writing_helpers_may_not_own_every_file() -> None:
    parent = load("crafter-v0")

    def code_owns_all(data: dict[str, Any]) -> None:
        data["files"] = [{"name": "status", "purpose": "", "content": ""}]
        data["helpers"] = [{"name": "status_file", "params": {"file": "status"}}]

    reasons = rejected(check_proposal(revision(parent, code_owns_all), parent))
    assert reasons == [
        "helpers: writing helpers target every initial file (status); leave at least one file "
        "written by the model only"
    ]

    def code_owns_one(data: dict[str, Any]) -> None:
        code_owns_all(data)
        data["files"].append({"name": "notes", "purpose": "", "content": ""})

    assert check_proposal(revision(parent, code_owns_one), parent).ok


def test_lineage_fields() -> None:
    parent = load("crafter-v0")
    earlier = load("minihack-v0")

    def bad_lineage(data: dict[str, Any]) -> None:
        add_helper(data)
        data["name"], data["parent"], data["game"] = "minihack-v0", None, "nethack"

    reasons = rejected(check_proposal(revision(parent, bad_lineage), parent, [earlier]))
    assert reasons == [
        "name: 'minihack-v0' is already used; give the revision a new name",
        "parent: must be 'crafter-v0' (the scaffold revised), got None",
        "game: must stay 'crafter', got 'nethack'",
    ]


def test_unknown_helper_and_bad_params_are_named() -> None:
    parent = load("crafter-v0")

    def unknown(data: dict[str, Any]) -> None:
        data["helpers"] = [{"name": "stuck_detectr"}]

    (reason,) = rejected(check_proposal(revision(parent, unknown), parent))
    assert "unknown helper 'stuck_detectr'. Did you mean 'stuck_detector'?" in reason

    def bad_param(data: dict[str, Any]) -> None:
        data["helpers"] = [{"name": "inject_tail", "params": {"lines": 0}}]

    (reason,) = rejected(check_proposal(revision(parent, bad_param), parent))
    assert "helper 'inject_tail': invalid params: lines:" in reason


def test_structural_changes_are_listed_field_by_field() -> None:
    parent = load("minihack-v0")

    def many(data: dict[str, Any]) -> None:
        data["files"][-1]["name"] = "plan_notes"  # strategy renamed, same content
        data["files"].append({"name": "deaths", "purpose": "how I died", "content": ""})
        data["vocabulary"]["log"].remove("CREATE")
        data["routine"]["history_window"] = 4
        data["limits"]["tail_max_lines"] = 20

    child = load("minihack-v0").model_validate(yaml.safe_load(revision(parent, many)))
    assert structural_changes(parent, child) == [
        "files: 'strategy' renamed to 'plan_notes'",
        "files: 'deaths' added",
        "vocabulary.log: -CREATE",
        "routine.history_window: 0 -> 4",
        "limits.tail_max_lines: 50 -> 20",
    ]


def patch_of(parent: Scaffold, text: str) -> str:
    return "".join(
        difflib.unified_diff(
            dump(parent).splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile="parent",
            tofile="child",
        )
    )


def test_a_patch_of_the_normalised_yaml_applies() -> None:
    parent = load("nethack-v0")
    child_text = dump(Scaffold.model_validate(yaml.safe_load(revision(parent, add_helper))))
    result = check_proposal(patch_of(parent, child_text), parent, [parent])
    assert isinstance(result, CheckedProposal)
    assert result.text == child_text
    assert result.changes == ["helpers: 'stuck_detector' switched on"]


def test_a_patch_that_does_not_apply_is_refused_with_the_hunk() -> None:
    parent = load("crafter-v0")
    child_text = dump(Scaffold.model_validate(yaml.safe_load(revision(parent, add_helper))))
    patch = patch_of(parent, child_text).replace("\n-name: crafter-v0\n", "\n-name: nope\n")
    assert patch != patch_of(parent, child_text)
    (reason,) = rejected(check_proposal(patch, parent))
    assert reason == (
        "patch: hunk 1 does not apply: line 2 of the parent is 'name: crafter-v0', the patch "
        "expects 'name: nope'"
    )


def test_a_near_duplicate_of_an_earlier_candidate_is_refused() -> None:
    parent = load("crafter-v0")
    first = Scaffold.model_validate(yaml.safe_load(revision(parent, add_helper, "r1")))

    def same_again(data: dict[str, Any]) -> None:
        add_helper(data)
        data["prompts"]["log_turn"] = "  " + data["prompts"]["log_turn"].replace(" ", "   ")
        data["description"] = "the same idea, said differently"

    text = revision(parent, same_again, "r2")
    (reason,) = rejected(check_proposal(text, parent, [parent, first]))
    assert reason.startswith("near-duplicate: same structure as earlier candidate 'r1' and 100.0%")

    # One word changed: still a near-duplicate at 0.98, not under a threshold of 1.0.
    def one_word(data: dict[str, Any]) -> None:
        add_helper(data)
        data["prompts"]["log_turn"] = data["prompts"]["log_turn"].replace(" ", " really ", 1)

    nearly = revision(parent, one_word, "r3")
    ratio = duplicate_ratio(first, Scaffold.model_validate(yaml.safe_load(nearly)))
    assert 0.98 <= ratio < 1.0
    assert not check_proposal(nearly, parent, [first]).ok
    assert check_proposal(nearly, parent, [first], near_duplicate=1.0).ok
    # A rewritten template is new wording: not a duplicate at the default threshold.
    rewritten = revision(
        parent, lambda d: (add_helper(d), d["prompts"].update(log_turn="Say what happened.")), "r4"
    )
    assert check_proposal(rewritten, parent, [first]).ok


def test_structurally_different_earlier_candidates_are_no_duplicates() -> None:
    parent = load("crafter-v0")
    other = Scaffold.model_validate(
        yaml.safe_load(revision(parent, lambda d: d["routine"].update(history_window=2), "r0"))
    )
    assert duplicate_ratio(parent, other) == 0.0
    assert check_proposal(revision(parent, add_helper), parent, [parent, other]).ok


def test_refusals_go_back_to_the_reviewer_up_to_the_cap() -> None:
    parent = load("crafter-v0")
    seen: list[ProposalRejected | None] = []
    replies = [
        revision(parent, lambda d: d["prompts"].update(log_turn="Say what happened.")),
        revision(parent, add_helper),
    ]

    def reviewer(refusal: ProposalRejected | None) -> str:
        seen.append(refusal)
        return replies[len(seen) - 1]

    outcome = ask_until_valid(reviewer, parent, [parent], cap=3)
    assert isinstance(outcome.result, CheckedProposal) and len(outcome.attempts) == 2
    assert seen[0] is None and seen[1] is outcome.attempts[0]
    assert seen[1].feedback().startswith("- structure: no structural change")

    stubborn = ask_until_valid(lambda _: replies[0], parent, [parent], cap=2)
    assert len(stubborn.attempts) == 2 and isinstance(stubborn.result, ProposalRejected)


def test_helper_params_compare_as_validated() -> None:
    parent = load("crafter-v0").model_copy(
        update={"helpers": (HelperConfig(name="inject_tail", params={}),)}
    )

    def spelled_out(data: dict[str, Any]) -> None:
        data["helpers"] = [{"name": "inject_tail", "params": {"lines": 10}}]  # the default

    reasons = rejected(check_proposal(revision(parent, spelled_out), parent))
    assert reasons[0].startswith("structure: no structural change")

    def tuned(data: dict[str, Any]) -> None:
        data["helpers"] = [{"name": "inject_tail", "params": {"lines": 20}}]

    result = check_proposal(revision(parent, tuned), parent)
    assert isinstance(result, CheckedProposal)
    assert result.changes == ["helpers: 'inject_tail' params changed"]
