"""The rules reviewer on real run directories (scripted agent on real MiniHack and Crafter):
proposals that pass the checks and play, what it writes, skipping, continuations,
determinism and its failures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automem import envs
from automem.envs import registry as env_registry
from automem.models import registry as models
from automem.models.registry import register_backend
from automem.optimize import check_proposal
from automem.optimize.review import EarlierAttempt, FailedCandidate, Reviewer
from automem.optimize.rules import RulesReviewer, score_gain
from automem.runs import RunConfig, run
from automem.runs.reader import RunReader
from automem.scaffold import HelperConfig, dump, load, validate_text
from tests.conftest import LineEnv
from tests.optimize.habits import habit_backend
from tests.optimize.rules_fixtures import (
    LINE_LENGTH,
    context,
    evidence,
    habit_run,
    line_scaffold,
    review,
    run_candidate,
)

MAZE = "minihack/MiniHack-MazeWalk-9x9-v0"
GAMES = {"minihack": (MAZE, "minihack-v0"), "crafter": ("crafter", "crafter-v0")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny real run per game: the scripted agent, two seeds, 15 steps."""
    root = tmp_path_factory.mktemp("parent-runs")
    made = {}
    for game, (env, _) in GAMES.items():
        config = RunConfig(env=env, model="scripted", seeds=(1, 2), max_steps=15)
        assert run(config, root / game).complete
        made[game] = root / game
    return made


def game_context(runs: dict[str, Path], game: str, **more: object):
    parent = load(GAMES[game][1])
    return context(game, dump(parent), (runs[game],), **more)


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("game", sorted(GAMES))
def test_a_real_run_gives_a_checked_candidate_that_plays(
    runs: dict[str, Path], tmp_path: Path, game: str
) -> None:
    before = files_under(runs[game])
    reviewer: Reviewer = RulesReviewer()  # what `--reviewer rules` builds: no arguments
    attempt = tmp_path / "v1-a1"
    outcome = reviewer.review(game_context(runs, game), attempt)
    assert outcome.failure is None, outcome.failure
    assert files_under(runs[game]) == before  # read only: not even a trace index written
    assert sorted(p.name for p in attempt.iterdir()) == ["rules.json"]
    parent = load(GAMES[game][1])
    checked = check_proposal(outcome.scaffold_text or "", parent)
    assert checked.ok and checked.text == outcome.scaffold_text
    report = json.loads((attempt / "rules.json").read_text())
    chosen = report["chosen"]
    assert checked.changes == chosen["changes"]
    fired = [r for r in report["rules"] if r["fires"]]
    assert fired and chosen["rule"] == max(fired, key=lambda r: r["strength"])["id"]
    assert evidence(report, chosen["rule"])["decision"] == "candidate, rank 1"
    pooled = report["figures"]["pooled"]
    finished = RunReader(runs[game]).episodes().finished.values()
    assert pooled["episodes"] == 2 and pooled["steps"] == sum(s.steps for s in finished)
    assert [e["seed"] for e in report["figures"]["episodes"]] == [1, 2]
    assert f"{pooled['steps']} steps" in outcome.analysis
    assert f"Rule that fired: {chosen['rule']}" in outcome.analysis
    assert outcome.description.startswith(f"[rules: {chosen['rule']}/1]")
    played = run_candidate(outcome, tmp_path / "candidate", GAMES[game][0])
    header = json.loads((played / "run.json").read_text())
    assert header["config"]["tasks"][0]["env"] == GAMES[game][0]


def test_the_stagnation_rules_fire_on_real_runs_without_progress(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # The scripted Crafter agent unlocks nothing in 15 steps: the checklist rule fires.
    outcome, report = review(game_context(runs, "crafter"), tmp_path / "c", ("stagnation",))
    assert report["figures"]["pooled"]["progression"] == 0.0
    assert evidence(report, "stagnation")["fires"]
    assert "helpers: 'achievement_checklist' switched on" in report["chosen"]["changes"]
    run_candidate(outcome, tmp_path / "checklist", "crafter")
    # It solves one of the two mazes: the stairs finder waits for less than half solved.
    outcome, report = review(game_context(runs, "minihack"), tmp_path / "m", ("stairs",))
    assert report["figures"]["pooled"]["progression"] == 0.5
    assert not evidence(report, "stairs")["fires"]
    assert outcome.failure is not None and "no rule fires" in outcome.failure


@pytest.mark.usefixtures("habits")
def test_the_stairs_rule_fires_on_real_mazes_left_unsolved(tmp_path: Path) -> None:
    still = habit_run(tmp_path / "still", "still", MAZE, 12, "minihack-v0")
    ctx = context("minihack", dump(load("minihack-v0")), (still,))
    outcome, report = review(ctx, tmp_path / "attempt", ("stairs",))
    assert report["figures"]["pooled"]["progression"] == 0.0
    assert evidence(report, "stairs")["fires"]
    assert "helpers: 'stairs_finder' switched on" in report["chosen"]["changes"]
    run_candidate(outcome, tmp_path / "stairs", MAZE)


def test_the_same_inputs_give_the_same_proposal(runs: dict[str, Path], tmp_path: Path) -> None:
    ctx = game_context(runs, "crafter")
    first = RulesReviewer().review(ctx, tmp_path / "a")
    second = RulesReviewer().review(ctx, tmp_path / "b")
    assert first == second and first.scaffold_text is not None
    assert (tmp_path / "a" / "rules.json").read_text() == (
        tmp_path / "b" / "rules.json"
    ).read_text()


def earlier_attempt(outcome, parent: str, number: int, verdict: str = "rejected") -> EarlierAttempt:
    candidate = validate_text(outcome.scaffold_text, "candidate")
    return EarlierAttempt(
        id=f"v1-a{number}",
        version=1,
        kind="fresh",
        parent=parent,
        candidate=candidate.name,
        description=outcome.description,
        verdict=verdict,
        reason="mean not higher",
        scores={"gate.parent": 0.1, "gate.child": 0.05},
    )


def test_each_fresh_attempt_tries_a_rule_not_tried_from_this_parent(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    ctx = game_context(runs, "crafter")
    parent = load("crafter-v0").name
    outcomes, attempts = [], []
    for number in range(1, 4):
        ctx = ctx.model_copy(
            update={
                "earlier": tuple(attempts),
                "earlier_candidates": tuple(o.scaffold_text for o in outcomes),
            }
        )
        outcome, report = review(ctx, tmp_path / f"a{number}")
        assert outcome.failure is None, outcome.failure
        for attempt in attempts:
            rule = attempt.description.split("/")[0].removeprefix("[rules: ")
            assert evidence(report, rule)["decision"].startswith("skipped: fired by attempt")
        outcomes.append(outcome)
        attempts.append(earlier_attempt(outcome, parent, number))
    rules = [a.description.split("/")[0] for a in attempts]
    assert len(set(rules)) == 3, rules
    texts = {o.scaffold_text for o in outcomes}
    assert len(texts) == 3
    # Attempts from another parent do not count as tried from this one...
    elsewhere = [a.model_copy(update={"parent": "crafter-other"}) for a in attempts]
    update = {"earlier": tuple(elsewhere), "earlier_candidates": ()}
    again, _ = review(ctx.model_copy(update=update), tmp_path / "other")
    assert again.description.split("/")[0] == rules[0]
    # ...but a child with the structure of an earlier candidate is refused by the checks.
    update["earlier_candidates"] = (outcomes[0].scaffold_text,)
    third, report = review(ctx.model_copy(update=update), tmp_path / "same")
    assert third.description.split("/")[0] == rules[1]
    assert report["refused"][0]["rule"] == rules[0].removeprefix("[rules: ")
    assert report["refused"][0]["reason"].startswith("near-duplicate: same structure")


def test_a_helper_an_earlier_candidate_switched_on_counts_as_tried(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # An earlier attempt (the LLM reviewer's, say: no rule mark) switched on the helper of the
    # strongest rule; the rules reviewer moves to the next rule.
    ctx = game_context(runs, "crafter")
    first, report = review(ctx, tmp_path / "first")
    top = report["chosen"]["rule"]
    candidate = validate_text(first.scaffold_text or "", "c")
    by_llm = EarlierAttempt(
        id="v1-a1",
        version=1,
        kind="fresh",
        parent="crafter-v0",
        candidate=candidate.name,
        description="Gate the crafts that cannot succeed.",
        verdict="rejected",
        reason="mean not higher",
    )
    ctx = ctx.model_copy(
        update={"earlier": (by_llm,), "earlier_candidates": (first.scaffold_text,)}
    )
    second, report = review(ctx, tmp_path / "second")
    assert second.scaffold_text is not None and report["chosen"]["rule"] != top
    assert evidence(report, top)["decision"].startswith(
        "skipped: attempt v1-a1 already switched on"
    )


def test_an_earlier_candidate_with_a_helper_unknown_here_is_listed_not_fatal(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # e.g. an --allow-code attempt's helper, whose file this process has not loaded
    coded = load("crafter-v0").model_copy(
        update={"name": "crafter-coded", "helpers": (HelperConfig(name="attempt_only"),)}
    )
    ctx = game_context(runs, "crafter", earlier_candidates=(dump(coded),))
    outcome, report = review(ctx, tmp_path / "attempt")
    assert outcome.scaffold_text is not None, outcome.failure
    [unreadable] = report["unreadable_candidates"]
    assert unreadable.startswith("earlier candidate 1") and "attempt_only" in unreadable


def continuation_context(runs: dict[str, Path], tmp_path: Path, scores: dict[str, float]):
    ctx = game_context(runs, "crafter")
    failed, report = review(ctx, tmp_path / "failed")
    attempt = earlier_attempt(failed, "crafter-v0", 1)
    cont = FailedCandidate(
        attempt=attempt.id,
        scaffold_text=failed.scaffold_text or "",
        diff=attempt.diff,
        scores=scores,
        runs=(),
    )
    update = {
        "earlier": (attempt,),
        "earlier_candidates": (failed.scaffold_text,),
        "continuation_of": cont,
    }
    return ctx.model_copy(update=update), report["chosen"]["rule"]


def test_a_continuation_of_a_rule_with_no_other_tuning_moves_to_the_next_rule(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    ctx, top = continuation_context(runs, tmp_path, {"gate.parent": 0.1, "gate.child": 0.1})
    assert top == "failed_crafts"  # craft_gate has a single tuning
    outcome, report = review(ctx, tmp_path / "cont")
    assert report["continuation"]["decision"] == (
        "it did not lose ground (+0.0000): retune failed_crafts"
    )
    assert evidence(report, top)["decision"] == (
        "the continuation would retune it: it has no tuning 2"
    )
    second = sorted(
        (r for r in report["rules"] if r["fires"] and r["id"] != top),
        key=lambda r: -r["strength"],
    )[0]
    assert (report["chosen"]["rule"], report["chosen"]["tuning"]) == (second["id"], 1)
    assert outcome.scaffold_text is not None


def test_a_continuation_retunes_a_rule_with_more_tunings(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    ctx = game_context(runs, "crafter")
    only = ("empty_searches", "redundant_writes")
    failed, report = review(ctx, tmp_path / "failed", only)
    rule = report["chosen"]["rule"]
    attempt = earlier_attempt(failed, "crafter-v0", 1)
    candidate_run = run_candidate(failed, tmp_path / "candidate", "crafter", steps=15)
    moved = review(ctx.model_copy(update={"parent_runs": (candidate_run,)}), tmp_path / "m", only)
    after = evidence(moved[1], rule)["value"]
    for scores, expected in (
        ({"gate.parent": 0.1, "gate.child": 0.1}, (rule, 2)),  # no loss: retune
        ({"parent_mean": 0.2, "child_mean": 0.1}, None),  # worse: the next rule
        ({}, None),  # no gain to read: the next rule
    ):
        cont = FailedCandidate(
            attempt=attempt.id,
            scaffold_text=failed.scaffold_text or "",
            diff="",
            scores=scores,
            runs=(candidate_run,),
        )
        update = {
            "earlier": (attempt,),
            "earlier_candidates": (failed.scaffold_text,),
            "continuation_of": cont,
        }
        folder = tmp_path / f"cont-{len(scores)}-{sum(scores.values())}"
        outcome, again = review(ctx.model_copy(update=update), folder, only)
        assert outcome.scaffold_text is not None, outcome.failure
        chosen = (again["chosen"]["rule"], again["chosen"]["tuning"])
        if expected is None:
            assert chosen[0] != rule and chosen[1] == 1
            assert again["continuation"]["decision"].endswith("next rule")
        else:
            assert chosen == expected
            assert outcome.description.startswith(f"[rules: {rule}/2]")
            decision = evidence(again, rule)["decision"]
            assert decision == "retuned by the continuation, from tuning 2"
        figure = again["continuation"]["figure"]
        before = evidence(again, rule)["value"]
        assert figure.endswith(
            f" {before:.3g} on the parent's runs, {after:.3g} on the failed candidate's"
        )
        assert figure in outcome.analysis
        assert outcome.scaffold_text != failed.scaffold_text


def test_score_gain_reads_the_gate_first() -> None:
    assert score_gain({"screen.gain": -0.1, "gate.gain": 0.2}) == 0.2
    assert score_gain({"gate.parent": 0.3, "gate.child": 0.1}) == pytest.approx(-0.2)
    assert score_gain({"screen_parent_mean": 0.1, "screen_child_mean": 0.4}) == pytest.approx(0.3)
    assert score_gain({"held_out": 0.5}) is None


@pytest.fixture
def habits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_BACKENDS", dict(models._BACKENDS))
    envs.registered()
    monkeypatch.setattr(env_registry, "_REGISTRY", dict(env_registry._REGISTRY))
    register_backend("habit", habit_backend)
    envs.register("line", LineEnv, length=LINE_LENGTH, max_steps=200)


@pytest.mark.usefixtures("habits")
def test_no_rule_that_fires_is_a_failure_that_says_so(tmp_path: Path) -> None:
    scaffold = line_scaffold(tmp_path)
    good = habit_run(tmp_path / "good", "good", "line", 12, str(scaffold))
    ctx = context("line", dump(load(scaffold)), (good,))
    outcome, report = review(ctx, tmp_path / "attempt")
    assert outcome.scaffold_text is None
    assert outcome.failure == (
        "rules reviewer: no rule fires on the parent's runs (every figure is under its threshold)"
    )
    assert not any(r["fires"] for r in report["rules"]) and report["outcome"]["proposed"] is False


@pytest.mark.usefixtures("habits")
def test_every_firing_rule_tried_is_a_failure_that_names_them(tmp_path: Path) -> None:
    scaffold = line_scaffold(tmp_path)
    silent = habit_run(tmp_path / "silent", "silent", "line", 12, str(scaffold))
    ctx = context("line", dump(load(scaffold)), (silent,))
    first, report = review(ctx, tmp_path / "a1")
    assert [r["id"] for r in report["rules"] if r["fires"]] == ["silent_log"]
    attempt = earlier_attempt(first, "line-v0", 1)
    update = {"earlier": (attempt,), "earlier_candidates": (first.scaffold_text,)}
    outcome, _ = review(ctx.model_copy(update=update), tmp_path / "a2")
    assert outcome.failure == (
        "rules reviewer: every rule that fires (silent_log) was tried from this parent or has "
        "no untried tuning left"
    )


def test_runs_without_a_finished_episode_are_a_failure(tmp_path: Path) -> None:
    empty = tmp_path / "empty-run"
    (empty / "episodes").mkdir(parents=True)
    ctx = context("crafter", dump(load("crafter-v0")), (empty,))
    outcome, report = review(ctx, tmp_path / "attempt")
    assert outcome.failure is not None
    assert outcome.failure.startswith("no finished episode in the parent's runs")
    assert report["outcome"]["failure"] == outcome.failure
