"""Selection: candidates, decisions, steering and the LLM judge on constructed traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem.models import load_model
from automem.models.scripted import ScriptedChatModel, ScriptedReply
from automem.runs.reader import EpisodeReader
from automem.train.criteria import SelectCriteria, load_criteria
from automem.train.episode import EpisodeData
from automem.train.judge import Judge, JudgeError
from automem.train.select import Selection, is_candidate, review_episode, steer
from tests.conftest import play
from tests.models.httpfake import FakeServer, Reply, openai_call, openai_tool_body

RIGHT, DONE = "<|ACTION|>right<|END|>", "<|DONE|>"
GOOD = "<|APPEND|>map_notes|going right reaches the end<|END|>" + DONE
REPLIES = [
    RIGHT,  # step 0
    GOOD,  # 1/log/0: clean write, later read back before progress
    "<|SEARCH|>map_notes|reaches<|END|>",  # 1/plan/0: non-empty search, consistent action
    RIGHT,  # 1/plan/1: the commit (not a candidate)
    GOOD,  # 2/log/0: redundant
    "no idea",  # 2/plan/0: unparseable
    RIGHT,  # 2/plan/1
    DONE,  # 3/log/0: no memory command, post-processing drops it
    RIGHT,  # 3/plan/0
]


@pytest.fixture
def data(tmp_path: Path) -> EpisodeData:
    play(tmp_path / "ep", REPLIES, max_steps=4)
    return EpisodeData.read(EpisodeReader("e", tmp_path / "ep"))


def review(data: EpisodeData, criteria: SelectCriteria, judge=None) -> Selection:
    sink = Selection(decisions=[], examples=[], dropped=[], edits={}, episodes=[])
    review_episode("run", data, criteria, None, judge, sink)
    return sink


def test_candidates_are_log_turns_and_plan_turns_that_are_not_only_a_commit(
    data: EpisodeData,
) -> None:
    chosen = [t.call_id for t in data.turns() if is_candidate(t)]
    assert chosen == ["1/log/0", "1/plan/0", "2/log/0", "2/plan/0", "3/log/0"]


def test_one_decision_per_candidate_with_its_stage_signals_and_reason(data: EpisodeData) -> None:
    sink = review(data, SelectCriteria())
    stages = {d.call_id: (d.decision, d.stage) for d in sink.decisions}
    assert stages == {
        "1/log/0": ("accept", "accepted"),
        "1/plan/0": ("accept", "accepted"),
        "2/log/0": ("reject", "signals"),
        "2/plan/0": ("reject", "signals"),
        "3/log/0": ("reject", "postprocess"),
    }
    by_id = {d.call_id: d for d in sink.decisions}
    assert [h.signal for h in by_id["1/log/0"].signals] == ["retrieved_write"]
    assert by_id["1/log/0"].score == 2.0
    assert [h.signal for h in by_id["1/plan/0"].signals] == ["consistent_search"]
    assert "below the minimum score 0; score -2: redundant_write -2" in by_id["2/log/0"].reason
    assert by_id["2/plan/0"].reason.startswith("vetoed by unparseable")
    assert "rule 4" in by_id["3/log/0"].reason
    assert [e.provenance.call_id for e in sink.examples] == ["1/log/0", "1/plan/0"]
    assert sink.examples[1].reply == "<|SEARCH|>map_notes|reaches<|END|>"


def test_a_minimum_score_demands_positive_evidence(data: EpisodeData) -> None:
    weights = {"consistent_search": 0.5}
    sink = review(data, SelectCriteria(min_score=1.0, weights=weights))
    accepted = [d.call_id for d in sink.decisions if d.decision == "accept"]
    assert accepted == ["1/log/0"]


def test_a_veto_can_be_lifted_by_the_criteria(data: EpisodeData) -> None:
    sink = review(data, SelectCriteria(veto=(), weights={"unparseable": 0.0}))
    by_id = {d.call_id: d for d in sink.decisions}
    assert by_id["2/plan/0"].stage == "postprocess"  # past the signals, dropped by rule 4


def test_criteria_from_yaml_and_flags_name_bad_fields(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("top_share: 0.25\nweights:\n  empty_search: -5\n", encoding="utf-8")
    criteria = load_criteria(path, min_score=1.0, horizon=2)
    assert (criteria.top_share, criteria.min_score, criteria.params.horizon) == (0.25, 1.0, 2)
    assert criteria.weights["empty_search"] == -5 and criteria.weights["retrieved_write"] == 2
    path.write_text("weights:\n  clever: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c.yaml: criteria weights: .*unknown signals"):
        load_criteria(path)


def test_steering_keeps_the_top_share_of_each_environment(tmp_path: Path) -> None:
    play(tmp_path / "ep", REPLIES, max_steps=4)
    reader = EpisodeReader("e", tmp_path / "ep")
    episodes = [("run", EpisodeData.read(reader, p)) for p in (0.1, 0.9, 0.5, 0.3)]
    out = steer(episodes, SelectCriteria(top_share=0.5))
    assert [out[i] is None for i in range(4)] == [False, True, True, False]
    assert "ranks 4 of 4 in line; the top share 0.5 keeps 2" in str(out[0])
    many = (episodes * 7)[:25]  # 0.28 of 25 keeps 7 (the float 0.28 x 25 would round up to 8)
    assert sum(v is None for v in steer(many, SelectCriteria(top_share=0.28)).values()) == 7
    floor = steer(episodes, SelectCriteria(top_share=1.0, min_progression=0.4))
    assert [floor[i] is None for i in range(4)] == [False, True, True, False]


# --------------------------------------------------------------------------- the judge


def decide(accept: bool, reason: str) -> ScriptedReply:
    return ScriptedReply(calls=(("decide", {"accept": accept, "reason": reason}),))


def test_the_judge_may_reject_and_writes_each_reason(data: EpisodeData, tmp_path: Path) -> None:
    model = ScriptedChatModel([decide(True, "an accurate,  useful note"), decide(False, "vague")])
    sink = review(data, SelectCriteria(), Judge(model))
    by_id = {d.call_id: d for d in sink.decisions}
    assert by_id["1/log/0"].reason.startswith("judge: an accurate, useful note; signals: score 2")
    assert (by_id["1/plan/0"].stage, by_id["1/plan/0"].reason) == ("judge", "judge: vague")
    assert [e.provenance.call_id for e in sink.examples] == ["1/log/0"]
    first = model.requests[0]
    assert first.tool_choice == "decide" and [t.name for t in first.tools] == ["decide"]
    shown = first.messages[0].content
    assert "going right reaches the end" in shown and "retrieved_write +2" in shown


def test_a_deciding_judge_sees_every_kept_turn_and_its_verdict_is_final(
    data: EpisodeData,
) -> None:
    replies = [decide(False, "too plain"), decide(True, "useful"), decide(True, "worth it")]
    model = ScriptedChatModel(replies)
    sink = review(data, SelectCriteria(judge="scripted-chat", judge_mode="decide"), Judge(model))
    by_id = {d.call_id: (d.decision, d.stage) for d in sink.decisions}
    assert by_id == {
        "1/log/0": ("reject", "judge"),
        "1/plan/0": ("accept", "accepted"),
        "2/log/0": ("accept", "accepted"),  # the signals rejected it (redundant); the judge decides
        "2/plan/0": ("reject", "postprocess"),  # no command to train on: never judged
        "3/log/0": ("reject", "postprocess"),
    }
    assert "redundant_write -2" in model.requests[2].messages[0].content
    assert model.left == 0


def test_a_malformed_verdict_is_corrected_once_then_fails_naming_the_turn(
    data: EpisodeData,
) -> None:
    bad = ScriptedReply(calls=(("decide", {"accept": "perhaps"}),))
    model = ScriptedChatModel([bad, decide(True, "fine now"), decide(True, "ok")])
    sink = review(data, SelectCriteria(), Judge(model))
    assert len(sink.examples) == 2 and len(model.requests) == 3
    assert model.requests[1].messages[-1].tool_results[0].is_error
    with pytest.raises(JudgeError, match=r"no verdict on e call 1/log/0: decide: invalid"):
        review(data, SelectCriteria(), Judge(ScriptedChatModel([bad, bad])))


def test_cached_verdicts_are_reused_on_a_rerun(data: EpisodeData, tmp_path: Path) -> None:
    cache = tmp_path / "judge.jsonl"
    first = review(
        data,
        SelectCriteria(),
        Judge(ScriptedChatModel([decide(True, "a"), decide(False, "b")]), cache),
    )
    again = Judge(ScriptedChatModel([]), cache)  # no reply left: any call would fail
    second = review(data, SelectCriteria(), again)
    assert again.calls == 0
    assert [d.reason for d in second.decisions] == [d.reason for d in first.decisions]


def test_the_judge_runs_on_an_openai_compatible_server(data: EpisodeData) -> None:
    def respond(received):
        verdict = {"accept": True, "reason": f"reviewed turn {len(server.requests)}"}
        call = openai_call("c1", "decide", json.dumps(verdict))
        return Reply(body=openai_tool_body(call))

    with FakeServer(respond=respond) as server:
        model = load_model(f"openai:judge,base_url={server.url}/v1,backoff_base=0.001")
        sink = review(data, SelectCriteria(), Judge(model))
        model.close()
    assert [d.reason.split(";")[0] for d in sink.decisions if d.decision == "accept"] == [
        "judge: reviewed turn 1",
        "judge: reviewed turn 2",
    ]
    body = server.requests[0].body
    assert body["tools"][0]["function"]["name"] == "decide"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "decide"}}
