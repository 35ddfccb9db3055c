"""Collect and select on real Crafter episodes (scripted model) through the CLI, and the
verbatim check failing on a tampered trace or dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs.reader import RunReader
from automem.train import read_examples, write_examples
from automem.train.criteria import SelectCriteria
from automem.train.dataset import NotVerbatim, write_selection
from automem.train.select import select
from automem.train.verbatim import check_verbatim

COLLECT = ["collect", "--suite", "crafter", "--model", "scripted", "--episodes", "3"]
COLLECT += ["--max-steps", "25", "--draw-seed", "5"]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loop2") / "collect"
    result = CliRunner().invoke(app, [*COLLECT, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def dataset(collected: Path) -> Path:
    out = collected.parent / "data"
    result = CliRunner().invoke(app, ["select", str(collected), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("reviewed ")
    return out


def test_collection_draws_recorded_seeds_off_the_evaluation_seeds_and_resumes(
    collected: Path,
) -> None:
    record = json.loads((collected / "collect.json").read_text())
    seeds = RunReader(collected).config().tasks[0].seeds
    assert len(seeds) == 3 and not set(seeds) & set(record["avoided"]["crafter"])
    assert record["draw_seed"] == 5 and 42 in record["avoided"]["crafter"]
    again = CliRunner().invoke(app, [*COLLECT, "--out", str(collected)])
    assert again.exit_code == 0 and "Nothing to do: all 3 episodes" in again.output


def test_selection_writes_the_dataset_decisions_statistics_and_criteria(dataset: Path) -> None:
    decisions = [json.loads(x) for x in (dataset / "decisions.jsonl").read_text().splitlines()]
    stats = json.loads((dataset / "stats.json").read_text())
    examples = read_examples(dataset / "examples.jsonl")
    assert len(decisions) == sum(stats["candidates"].values()) > 0
    accepted = [d for d in decisions if d["decision"] == "accept"]
    assert len(accepted) == len(examples) == stats["examples"] > 0
    assert [(e.episode_id, e.provenance.call_id) for e in examples] == [
        (d["episode_id"], d["call_id"]) for d in accepted
    ]
    assert {d["phase"] for d in decisions} == {"log", "plan"}
    assert all(d["reason"] for d in decisions)
    assert stats["episodes"] == 3 and stats["episodes_steered_in"] == 2  # top half, rounded up
    assert stats["rejected_by_stage"]["steering"] > 0
    assert stats["signal_hits"]["redundant_write"] > 0  # the scripted model repeats itself
    sharegpt = read_examples(dataset / "examples.sharegpt.jsonl")
    assert [e.messages for e in sharegpt] == [e.messages for e in examples]
    criteria = json.loads((dataset / "criteria.json").read_text())
    assert criteria["top_share"] == 0.5 and "retrieved_write" in criteria["signals"]
    rejected_example = criteria["examples"]["redundant_write"]["rejected"]
    assert rejected_example["detail"].startswith("APPEND")
    assert json.loads((dataset / "verbatim.json").read_text())["ok"] is True


def test_every_kept_example_is_verbatim_in_its_trace(dataset: Path) -> None:
    examples = read_examples(dataset / "examples.jsonl")
    report = check_verbatim(examples)
    assert report.ok and report.checked == len(examples)


def test_a_tampered_dataset_fails_the_check(dataset: Path, tmp_path: Path) -> None:
    examples = read_examples(dataset / "examples.jsonl")
    edited = examples[0].with_reply(examples[0].reply.replace("<|END|>", " indeed<|END|>", 1))
    report = check_verbatim([edited, *examples[1:]])
    assert len(report.problems) >= 1
    assert "is not the trace's reply post-processed" in report.problems[0]
    write_examples(tmp_path / "x.jsonl", [edited])  # the file form of the same edit
    assert not check_verbatim(read_examples(tmp_path / "x.jsonl")).ok


def test_a_tampered_trace_fails_the_check_and_no_dataset_is_written(
    collected: Path, dataset: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(collected, copy)
    selection = select([copy], SelectCriteria())
    first = selection.examples[0]
    trace = Path(first.provenance.trace)
    records = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    step, phase, turn = first.provenance.call_id.split("/")
    call = next(
        r
        for r in records
        if r["type"] == "call"
        and (str(r["step"]), r["phase"], str(r["turn"])) == (step, phase, turn)
    )
    message = next(r for r in records if r["type"] == "message" and r["id"] == call["response"])
    message["content"] = message["content"].replace("|", "|forged ", 1)
    trace.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(NotVerbatim, match="not verbatim in their traces"):
        write_selection(tmp_path / "data", selection, SelectCriteria())
    assert not (tmp_path / "data" / "examples.jsonl").exists()
    report = json.loads((tmp_path / "data" / "verbatim.json").read_text())
    assert report["ok"] is False and first.provenance.call_id in report["problems"][0]


def test_select_with_a_judge_on_a_loopback_server_records_its_reasons(
    collected: Path, tmp_path: Path
) -> None:
    from tests.models.httpfake import FakeServer, Reply, openai_call, openai_tool_body

    def respond(received):  # reject every third turn it is shown
        n = len(server.requests)
        verdict = {"accept": n % 3 != 0, "reason": f"verdict {n}"}
        return Reply(body=openai_tool_body(openai_call(f"c{n}", "decide", json.dumps(verdict))))

    out = tmp_path / "judged"
    with FakeServer(respond=respond) as server:
        spec = f"openai:judge,base_url={server.url}/v1,backoff_base=0.001"
        command = ["select", str(collected), "--out", str(out), "--judge", spec]
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        asked = len(server.requests)
        again = CliRunner().invoke(app, command)  # verdicts come from judge.jsonl
        assert again.exit_code == 0 and len(server.requests) == asked
    decisions = [json.loads(x) for x in (out / "decisions.jsonl").read_text().splitlines()]
    judged = [d for d in decisions if d["stage"] in ("judge", "accepted")]
    assert len(judged) == asked > 2
    assert [d["decision"] for d in judged][:3] == ["accept", "accept", "reject"]
    assert judged[2]["reason"] == "judge: verdict 3"
    assert judged[0]["reason"].startswith("judge: verdict 1; signals: score")
    assert len((out / "judge.jsonl").read_text().splitlines()) == asked
    assert json.loads((out / "criteria.json").read_text())["judge"] == spec


def test_select_from_a_folder_that_is_no_run_fails_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["select", str(tmp_path / "empty"), "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read run {tmp_path / 'empty'}")
    bad = tmp_path / "c.yaml"
    bad.write_text("top_share: 2\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["select", str(tmp_path / "empty"), "--out", str(tmp_path / "d"), "--criteria", str(bad)],
    )
    assert (
        result.exit_code == 2
        and "c.yaml: criteria top_share: Input should be less" in result.output
    )


def test_selection_leaves_the_run_directory_as_it_was(collected: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(collected, copy)
    before = sorted((p.relative_to(copy), p.stat().st_mtime_ns) for p in copy.rglob("*"))
    result = CliRunner().invoke(app, ["select", str(copy), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert sorted((p.relative_to(copy), p.stat().st_mtime_ns) for p in copy.rglob("*")) == before
