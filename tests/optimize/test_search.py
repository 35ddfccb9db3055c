"""The optimiser end to end on real MiniHack with the test agent and test reviewers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem.optimize import PairedGain, apply_patch, run_episodes
from automem.optimize.config import MeanRule, OptimizeBudget, ParetoRule
from automem.optimize.layout import OptimizeDirError
from automem.optimize.lineage import read_lineage
from automem.optimize.review import ReviewOutcome
from automem.optimize.search import optimize
from automem.scaffold import dump, load
from tests.optimize.reviewers import InterruptedReviewer, PlanReviewer
from tests.optimize.support import config, episode_seeds, read, result_stamps

PLAN = {"v1-a1": "fail", "v1-a2": "model-error"}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlanReviewer]:
    out = tmp_path_factory.mktemp("opt") / "run"
    reviewer = PlanReviewer(PLAN)
    result = optimize(config(), out, reviewer)
    assert result.status == "finished"
    return out, reviewer


def test_every_decision_of_two_versions(two_versions: tuple[Path, PlanReviewer]) -> None:
    out, _ = two_versions
    lineage = read_lineage(out / "lineage.json")
    verdicts = [(a.id, a.kind, a.verdict, a.ended_at_stage) for a in lineage.attempts]
    assert verdicts == [
        ("v1-a1", "fresh", "failed", "review"),
        ("v1-a2", "fresh", "invalid", "screen"),
        ("v1-a2-c1", "continuation", "accepted", "gate"),
        ("v2-a1", "fresh", "accepted", "gate"),
    ]
    by_id = {a.id: a for a in lineage.attempts}
    assert by_id["v1-a1"].reason == "no proposal: the session ended without submit"
    # A model error makes the candidate invalid with that reason, never a score of zero.
    invalid = by_id["v1-a2"]
    assert "model_error" in invalid.reason and "refuses this prompt" in invalid.reason
    assert invalid.screen is not None and not invalid.screen.valid and invalid.gate is None
    assert by_id["v1-a2-c1"].continuation_of == "v1-a2"
    assert by_id["v1-a2-c1"].parent == "minihack-v0"  # a continuation revises the same parent
    assert by_id["v2-a1"].parent == "minihack-v1-a2-c1"
    assert [(v.version, v.scaffold, v.attempt) for v in lineage.versions] == [
        (0, "minihack-v0", None),
        (1, "minihack-v1-a2-c1", "v1-a2-c1"),
        (2, "minihack-v2-a1", "v2-a1"),
    ]
    assert lineage.episodes == 4 + 1 + 5 + 5  # baseline, the invalid screen, two accepted
    assert lineage.review_tokens == 4 * 1100 and lineage.abandoned == []


def test_the_gate_statistic_is_the_rule_on_the_recorded_runs(
    two_versions: tuple[Path, PlanReviewer],
) -> None:
    out, _ = two_versions
    decision = read(out / "attempts/v2-a1/decision.json")
    parent = run_episodes(out / "attempts/v1-a2-c1/runs/gate")
    child = run_episodes(out / "attempts/v2-a1/runs/gate")
    again = PairedGain(min_gain=-0.5, resamples=200).decide(parent, child)
    assert decision["verdict"] == "accepted" and decision["rule"] == "paired"
    assert decision["statistics"] == again.statistics and decision["reason"] == again.reason
    assert decision["cost"]["episodes"] == 5 and decision["cost"]["review_tokens"] == 1100
    assert decision["screen"]["accepted"] and decision["screen"]["rule"] == "screen"


def test_every_artefact_of_an_attempt(two_versions: tuple[Path, PlanReviewer]) -> None:
    out, _ = two_versions
    record = read(out / "optimize.json")
    assert record["config"] == config().model_dump(mode="json")
    assert record["agent_model"]["spec"] == "marker" and record["reviewer"] == {"name": "plan"}
    assert record["start"]["digest"] == load("minihack-v0").digest()
    assert "automem" in record["versions"] and len(record["invocations"]) == 1
    folder = out / "attempts/v2-a1"
    candidate = load(folder / "candidate.yaml")
    parent = load(out / "attempts/v1-a2-c1/candidate.yaml")
    assert (candidate.name, candidate.parent) == ("minihack-v2-a1", "minihack-v1-a2-c1")
    assert apply_patch(dump(parent), (folder / "diff.patch").read_text()) == dump(candidate)
    outcome = ReviewOutcome.model_validate_json((folder / "review.json").read_text())
    assert outcome.scaffold_text == dump(candidate) and outcome.usage.prompt_tokens == 1000
    assert [read_line["event"] for read_line in _lines(folder / "transcript.jsonl")] == [
        "start",
        "submit",
    ]
    # Real run directories; gate and held-out seeds are disjoint, the screen one gate seed.
    gate, held = episode_seeds(folder / "runs/gate"), episode_seeds(folder / "runs/heldout")
    assert gate == {1, 3} and held == {2, 4}
    assert (
        episode_seeds(folder / "runs/screen") <= gate
        and len(episode_seeds(folder / "runs/screen")) == 1
    )
    assert episode_seeds(out / "baseline/runs/gate") == gate
    assert episode_seeds(out / "baseline/runs/heldout") == held
    run_config = read(folder / "runs/gate/run.json")["config"]
    assert run_config["tasks"][0]["scaffold"] == str(folder / "candidate.yaml")
    # A failed review leaves its transcript and outcome, and no candidate.
    failed = out / "attempts/v1-a1"
    assert (failed / "review.json").exists() and not (failed / "candidate.yaml").exists()
    assert read(failed / "decision.json") | {"cost": None} == {
        "attempt": "v1-a1",
        "verdict": "failed",
        "stage": "review",
        "reason": "no proposal: the session ended without submit",
        "rule": None,
        "statistics": {},
        "screen": None,
        "gate": None,
        "cost": None,
    }
    invalid = read(out / "attempts/v1-a2/decision.json")
    assert (invalid["verdict"], invalid["stage"], invalid["cost"]["episodes"]) == (
        "invalid",
        "screen",
        1,
    )
    assert not (out / "attempts/v1-a2/runs/gate").exists()  # an invalid screen ends it
    summary = (out / "summary.md").read_text()
    for attempt in ("v1-a1", "v1-a2", "v1-a2-c1", "v2-a1"):
        assert f"| {attempt} |" in summary
    assert "**finished**" in summary and "best version: v2 minihack-v2-a1" in summary


def test_what_each_reviewer_session_was_shown(two_versions: tuple[Path, PlanReviewer]) -> None:
    out, reviewer = two_versions
    assert reviewer.sessions == ["v1-a1", "v1-a2", "v1-a2-c1", "v2-a1"]
    continuation = reviewer.contexts["v1-a2-c1"]
    failed = continuation.continuation_of
    assert failed is not None and failed.attempt == "v1-a2"
    assert failed.runs == (out / "attempts/v1-a2/runs/screen",)
    assert "FAIL-AGENT-MARKER" in failed.scaffold_text and failed.diff.startswith("---")
    assert [(e.id, e.verdict) for e in continuation.earlier] == [
        ("v1-a1", "failed"),
        ("v1-a2", "invalid"),
    ]
    assert continuation.parent_runs == (out / "baseline/runs/gate",)  # never held-out runs
    second = reviewer.contexts["v2-a1"]
    assert second.parent_text == dump(load(out / "attempts/v1-a2-c1/candidate.yaml"))
    assert second.parent_runs == (out / "attempts/v1-a2-c1/runs/gate",)
    assert len(second.earlier_candidates) == 2 and "minihack" in second.objective.lower()
    # The held-out seeds never steer the search: no reviewer sees their scores or runs.
    accepted = next(e for e in second.earlier if e.id == "v1-a2-c1")
    assert set(accepted.scores) == {
        "screen_parent_mean",
        "screen_child_mean",
        "screen_gain",
        "screen_mean",
        "gate_gain",
        "gate_low",
        "gate_high",
        "gate_mean",
    }
    assert not second.allow_code and second.limits.max_turns == 40


def test_rerunning_a_finished_optimisation_redoes_nothing(
    two_versions: tuple[Path, PlanReviewer],
) -> None:
    out, _ = two_versions
    before = result_stamps(out)
    reviewer = PlanReviewer(PLAN)
    result = optimize(config(workers=2), out, reviewer)  # workers may change on a resume
    assert result.status == "finished" and reviewer.sessions == []
    assert result_stamps(out) == before
    assert len(read(out / "optimize.json")["invocations"]) == 2


def test_a_resume_with_another_config_is_refused(two_versions: tuple[Path, PlanReviewer]) -> None:
    out, _ = two_versions
    with pytest.raises(OptimizeDirError, match=r"different config.*screen_size"):
        optimize(config(screen_size=2), out, PlanReviewer())


def test_a_round_without_a_better_candidate_is_abandoned(tmp_path: Path) -> None:
    # Every tiny episode scores 0: the reference's strictly-higher mean refuses each candidate.
    settings = config(versions=1, fresh_attempts=1, acceptance=MeanRule(), screen_size=0)
    result = optimize(settings, tmp_path / "o", PlanReviewer())
    lineage = result.lineage
    assert [(a.id, a.verdict, a.ended_at_stage) for a in lineage.attempts] == [
        ("v1-a1", "rejected", "gate"),
        ("v1-a1-c1", "rejected", "gate"),
    ]
    assert lineage.attempts[0].reason == "mean 0.0000 is not above 0.0000"
    assert lineage.abandoned == [1] and [v.version for v in lineage.versions] == [0]
    assert lineage.attempts[0].heldout is None  # only accepted versions are held out
    assert result.best is not None and result.best.version == 0


def test_the_pareto_rule_samples_parents_from_the_front(tmp_path: Path) -> None:
    settings = config(versions=1, fresh_attempts=1, continuations=0, acceptance=ParetoRule())
    lineage = optimize(settings, tmp_path / "o", PlanReviewer()).lineage
    attempt = lineage.attempts[0]
    assert attempt.parent == "minihack-v0"
    assert (attempt.verdict, attempt.reason) == ("rejected", "strictly best on no instance")


def test_the_stop_file_ends_it_at_the_next_safe_point(tmp_path: Path) -> None:
    out = tmp_path / "o"

    class Stopper(PlanReviewer):
        def review(self, context, attempt_dir):  # type: ignore[no-untyped-def]
            (out / "STOP").write_text("")  # asked while the session runs
            return super().review(context, attempt_dir)

    result = optimize(config(versions=1), out, Stopper())
    assert result.status == "stopped" and "STOP" in result.reason
    assert not (out / "STOP").exists()  # removed, so rerunning continues
    attempt = result.lineage.attempts[0]
    assert attempt.status == "evaluating" and attempt.screen is None  # stopped before screen
    reviewer = PlanReviewer()
    again = optimize(config(versions=1), out, reviewer)
    assert again.status == "finished" and reviewer.sessions == []  # the review is not redone
    assert again.lineage.attempts[0].verdict == "accepted"


def test_a_spent_budget_stops_with_the_best_so_far(tmp_path: Path) -> None:
    # One session spends 1,100 reviewer tokens: its candidate is still evaluated, then no
    # second session starts.
    budget = OptimizeBudget(max_review_tokens=1000)
    result = optimize(config(budget=budget), tmp_path / "o", PlanReviewer())
    assert result.status == "budget" and "reviewer token budget" in result.reason
    assert [(a.id, a.verdict) for a in result.lineage.attempts] == [("v1-a1", "accepted")]
    assert result.best is not None and result.best.scaffold == "minihack-v1-a1"
    assert "**budget**" in (tmp_path / "o/summary.md").read_text()
    # No session starts whose candidate could not be evaluated: 4 baseline episodes, then a
    # screen of 1 would be the 6th of 5 with no screening the gate's 2 would be too many.
    few = optimize(
        config(budget=OptimizeBudget(max_episodes=5), screen_size=0), tmp_path / "e", PlanReviewer()
    )
    assert few.status == "budget" and "episode budget spent (4 of 5" in few.reason
    assert "first evaluation needs 2" in few.reason and few.lineage.attempts == []
    # An evaluation that would overrun the budget does not start: 4 + the screen's 1 + the
    # gate's 2 leave nothing for the held-out 2. The gate accepted v1: it is the best so far.
    gated = optimize(config(budget=OptimizeBudget(max_episodes=7)), tmp_path / "g", PlanReviewer())
    assert gated.status == "budget" and "v1-a1 heldout needs 2 episode(s), 0 of 7" in gated.reason
    assert [(a.id, a.status) for a in gated.lineage.attempts] == [("v1-a1", "evaluating")]
    assert gated.best is not None and (gated.best.scaffold, gated.best.heldout) == (
        "minihack-v1-a1",
        None,
    )
    # A larger budget on the resume fills in the held-out numbers, then stops before v2-a1.
    more = optimize(config(budget=OptimizeBudget(max_episodes=9)), tmp_path / "g", PlanReviewer())
    assert [(a.id, a.verdict) for a in more.lineage.attempts] == [("v1-a1", "accepted")]
    assert more.lineage.versions[1].heldout is not None and more.lineage.episodes == 9
    assert more.lineage.attempts[0].heldout == more.lineage.versions[1].heldout


def test_an_interrupted_review_is_set_aside_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        optimize(config(versions=1), out, InterruptedReviewer())
    folder = out / "attempts/v1-a1"
    assert not (folder / "review.json").exists()
    reviewer = PlanReviewer()
    result = optimize(config(versions=1), out, reviewer)
    assert result.status == "finished" and reviewer.sessions == ["v1-a1"]
    kept = [e["action"] for e in _lines(folder / ".interrupted-1/transcript.jsonl")]
    assert kept == ["interrupted"]
    assert [e["event"] for e in _lines(folder / "transcript.jsonl")] == ["start", "submit"]


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


class _StopAfterFirstGateEpisode:
    """A listener that asks to stop as soon as one episode of an attempt's gate ends."""

    def __init__(self, out: Path) -> None:
        self.out, self.label = out, ""

    def note(self, text: str) -> None:
        pass

    def stage(self, label: str, episodes: int) -> None:
        self.label = label

    def step(self, episode: str, step: int, cap: int) -> None:
        pass

    def episode_end(self, summary: object) -> None:
        if self.label == "v1-a1 gate":
            (self.out / "STOP").write_text("")

    def stage_end(self) -> None:
        pass


def test_the_stop_file_ends_an_evaluation_after_its_running_episode(tmp_path: Path) -> None:
    out = tmp_path / "o"
    settings = config(versions=1, screen_size=0)
    result = optimize(settings, out, PlanReviewer(), listener=_StopAfterFirstGateEpisode(out))
    assert result.status == "stopped"
    gate = out / "attempts/v1-a1/runs/gate/episodes"
    assert len(list(gate.glob("*/result.json"))) == 1  # one of the gate's two episodes
    before = result_stamps(out)
    again = optimize(settings, out, PlanReviewer())
    assert again.status == "finished" and len(list(gate.glob("*/result.json"))) == 2
    assert {k: v for k, v in result_stamps(out).items() if k in before} == before


def test_wall_time_counts_every_invocation(tmp_path: Path) -> None:
    ticks = iter(range(0, 10_000, 10))  # every look at the clock: 10 s later
    settings = config(versions=1, budget=OptimizeBudget(max_wall_s=25))
    result = optimize(settings, tmp_path / "o", PlanReviewer(), clock=lambda: next(ticks))
    assert result.status == "budget" and "wall-time budget spent" in result.reason
    assert result.lineage.elapsed_s >= 25
    again = optimize(settings, tmp_path / "o", PlanReviewer(), clock=lambda: 0.0)
    assert again.status == "budget" and again.lineage.elapsed_s == result.lineage.elapsed_s


def test_a_session_gets_what_is_left_of_the_reviewer_budget(tmp_path: Path) -> None:
    reviewer = PlanReviewer()
    budget = OptimizeBudget(max_review_tokens=1500, max_review_cost_usd=0.015)
    result = optimize(config(budget=budget), tmp_path / "o", reviewer)
    assert reviewer.sessions == ["v1-a1", "v2-a1"]  # 1,100 of 1,500 used: one more session
    first, second = reviewer.contexts["v1-a1"].limits, reviewer.contexts["v2-a1"].limits
    assert (first.max_tokens, first.max_cost_usd) == (1500, pytest.approx(0.015))
    assert (second.max_tokens, second.max_cost_usd) == (400, pytest.approx(0.005))
    assert result.status == "finished"  # both rounds had their session


def test_an_invalid_start_scaffold_stops_before_any_review(tmp_path: Path) -> None:
    from automem.optimize.search import OptimizeError
    from tests.optimize.agent_plugin import MARKER

    start = load("minihack-v0")
    prompts = start.prompts.model_copy(update={"plan_system": f"{MARKER}\n"})
    path = tmp_path / "start.yaml"
    path.write_text(dump(start.model_copy(update={"prompts": prompts})))
    reviewer = PlanReviewer()
    with pytest.raises(OptimizeError, match=r"start scaffold's gate evaluation is invalid"):
        optimize(config(scaffold=str(path)), tmp_path / "o", reviewer)
    assert reviewer.sessions == []
    assert len(list((tmp_path / "o/baseline/runs/gate/episodes/.stopped").iterdir())) == 2


def test_reusing_the_gate_seeds_reports_on_them_as_the_reference(tmp_path: Path) -> None:
    settings = config(versions=1, continuations=0, screen_size=0, reuse_gate_seeds=True)
    result = optimize(settings, tmp_path / "o", PlanReviewer())
    assert [v.heldout for v in result.lineage.versions] == [None, None]
    assert episode_seeds(tmp_path / "o/attempts/v1-a1/runs/gate") == {1, 2, 3, 4}
    assert not (tmp_path / "o/baseline/runs/heldout").exists()


def test_more_versions_on_a_resume_continue_the_search(tmp_path: Path) -> None:
    out = tmp_path / "o"
    first = optimize(config(versions=1, screen_size=0), out, PlanReviewer())
    assert [v.version for v in first.lineage.versions] == [0, 1]
    before = result_stamps(out)
    reviewer = PlanReviewer()
    again = optimize(config(versions=2, screen_size=0), out, reviewer)
    assert again.status == "finished" and reviewer.sessions == ["v2-a1"]
    assert [v.version for v in again.lineage.versions] == [0, 1, 2]
    assert {k: v for k, v in result_stamps(out).items() if k in before} == before


def test_a_crash_after_a_version_was_added_does_not_add_it_twice(tmp_path: Path) -> None:
    # As if killed between recording version 1 and closing its attempt.
    out = tmp_path / "o"
    settings = config(versions=1, screen_size=0, acceptance=ParetoRule())
    optimize(settings, out, PlanReviewer())
    path = out / "lineage.json"
    lineage = read(path)
    lineage["versions"].append(
        {**lineage["versions"][0], "version": 1, "scaffold": "minihack-v1-a1", "attempt": "v1-a1"}
    )
    lineage["attempts"][0] |= {"status": "evaluating", "verdict": None}
    lineage["attempts"][0]["decision"] |= {"accepted": True}
    lineage["abandoned"] = []
    path.write_text(json.dumps(lineage))
    result = optimize(
        config(versions=1, screen_size=0, acceptance=ParetoRule()), out, PlanReviewer()
    )
    assert [v.scaffold for v in result.lineage.versions] == ["minihack-v0", "minihack-v1-a1"]
    assert result.lineage.attempts[0].verdict == "accepted"
