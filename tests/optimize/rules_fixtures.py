"""Shared set-up of the rules reviewer tests: real runs of habits, reviews, candidates run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automem.optimize.review import ReviewContext, ReviewOutcome
from automem.optimize.rules import RulesReviewer
from automem.optimize.rules_compose import RULES
from automem.runs import RunConfig, run
from automem.scaffold import dump, load, validate_text

LINE_LENGTH = 1000  # far enough that walking right never ends an episode


def line_scaffold(folder: Path) -> Path:
    """crafter-v0's structure as a scaffold for the Line test game."""
    scaffold = load("crafter-v0").model_copy(update={"name": "line-v0", "game": "line"})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "line-v0.yaml"
    path.write_text(dump(scaffold), encoding="utf-8")
    return path


def habit_run(out: Path, habit: str, env: str, steps: int, scaffold: str) -> Path:
    config = RunConfig(
        env=env, model=f"habit:{habit}", seeds=(0, 2), max_steps=steps, scaffold=scaffold
    )
    result = run(config, out)
    if not result.complete:
        raise RuntimeError(f"the {habit} run did not finish: {result.summary}")
    return out


def context(game: str, parent_text: str, runs: tuple[Path, ...], **more: Any) -> ReviewContext:
    return ReviewContext(
        game=game, objective="progression", parent_text=parent_text, parent_runs=runs, **more
    )


def review(
    ctx: ReviewContext, attempt_dir: Path, rules: tuple[str, ...] | None = None
) -> tuple[ReviewOutcome, dict[str, Any]]:
    book = RULES if rules is None else tuple(r for r in RULES if r.id in rules)
    outcome = RulesReviewer(book).review(ctx, attempt_dir)
    report = json.loads((attempt_dir / "rules.json").read_text(encoding="utf-8"))
    return outcome, report


def evidence(report: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in report["rules"] if r["id"] == rule)


def run_candidate(outcome: ReviewOutcome, folder: Path, env: str, steps: int = 3) -> Path:
    """Save the candidate, load it as a run would, and play one real episode with it."""
    assert outcome.scaffold_text is not None, outcome.failure
    candidate = validate_text(outcome.scaffold_text, "candidate")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{candidate.name}.yaml"
    path.write_text(outcome.scaffold_text, encoding="utf-8")
    assert load(path) == candidate
    config = RunConfig(env=env, model="scripted", seeds=(5,), max_steps=steps, scaffold=str(path))
    result = run(config, folder / "run")
    assert result.complete and result.summary.episodes == 1
    return folder / "run"
