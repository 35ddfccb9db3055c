"""Writing a selection: the dataset, the decisions, the statistics and the criteria.

The output folder holds

* ``examples.jsonl`` (chat ``messages``, for TRL) and ``examples.sharegpt.jsonl``
  (LLaMA-Factory), the kept examples after post-processing;
* ``decisions.jsonl``: one :class:`~automem.train.select.Decision` per reviewed turn;
* ``stats.json``: counts per phase, stage, signal, rule and episode;
* ``criteria.json``: the criteria used, each signal's definition, and for each signal an
  accepted and a rejected turn that show it (when the runs have one);
* ``verbatim.json``: the check that every kept example is verbatim in its trace.

Every file is written through a temporary file and a rename.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automem.runs.directory import write_json_atomic
from automem.train.criteria import SelectCriteria
from automem.train.examples import write_examples
from automem.train.select import Decision, Selection, select
from automem.train.signals import BY_NAME
from automem.train.verbatim import VerbatimReport, check_verbatim

EXAMPLES = "examples.jsonl"
SHAREGPT = "examples.sharegpt.jsonl"
DECISIONS = "decisions.jsonl"
STATS = "stats.json"
CRITERIA = "criteria.json"
VERBATIM = "verbatim.json"


class NotVerbatim(ValueError):
    """A kept example is not verbatim in its trace (the dataset is not written as final)."""


def statistics(selection: Selection) -> dict[str, Any]:
    decisions = selection.decisions
    accepted = [d for d in decisions if d.decision == "accept"]
    hits = Counter(h.signal for d in decisions for h in d.signals)
    hits_kept = Counter(h.signal for d in accepted for h in d.signals)
    reviewed = Counter((d.run, d.episode_id) for d in decisions)
    kept = Counter((d.run, d.episode_id) for d in accepted)
    per_episode = []
    for run, episode, steered_in in selection.episodes:
        key = (run, episode.episode_id)
        per_episode.append(
            {
                "run": run,
                "episode_id": episode.episode_id,
                "env_id": episode.env_id,
                "progression": episode.progression,
                "steered_in": steered_in,
                "candidates": reviewed[key],
                "accepted": kept[key],
            }
        )
    return {
        "episodes": len(selection.episodes),
        "episodes_steered_in": sum(s for _, _, s in selection.episodes),
        "candidates": dict(Counter(d.phase for d in decisions)),
        "accepted": dict(Counter(d.phase for d in accepted)),
        "rejected_by_stage": dict(Counter(d.stage for d in decisions if d.decision == "reject")),
        "examples": len(selection.examples),
        "examples_by_env": dict(Counter(d.env_id for d in accepted)),
        "signal_hits": {name: hits[name] for name in BY_NAME},
        "signal_hits_accepted": {name: hits_kept[name] for name in BY_NAME},
        "postprocess": {
            "edits": {str(k): v for k, v in selection.edits.items()},
            "drops": dict(Counter(d.rule for d in selection.dropped)),
        },
        "mean_score_accepted": (sum(d.score for d in accepted) / len(accepted))
        if accepted
        else None,
        "per_episode": per_episode,
    }


def _ref(decision: Decision, signal: str) -> dict[str, Any]:
    detail = next(h.detail for h in decision.signals if h.signal == signal)
    return {
        "run": decision.run,
        "episode_id": decision.episode_id,
        "call_id": decision.call_id,
        "detail": detail,
        "reason": decision.reason,
    }


def criteria_record(criteria: SelectCriteria, selection: Selection) -> dict[str, Any]:
    """The criteria as used, with an accepted and a rejected example turn per signal."""
    examples: dict[str, dict[str, Any]] = {}
    for name in BY_NAME:
        shown = [d for d in selection.decisions if any(h.signal == name for h in d.signals)]
        kept = next((d for d in shown if d.decision == "accept"), None)
        refused = next((d for d in shown if d.decision == "reject"), None)
        examples[name] = {
            "accepted": _ref(kept, name) if kept else None,
            "rejected": _ref(refused, name) if refused else None,
        }
    return {**criteria.described(), "examples": examples}


def write_selection(out: Path, selection: Selection, criteria: SelectCriteria) -> VerbatimReport:
    """Write every output of a selection to ``out``; raises NotVerbatim if the check fails.

    The check runs before the dataset is written, so a failed check leaves no dataset.
    """
    report = check_verbatim(selection.examples)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / VERBATIM, report.model_dump(mode="json") | {"ok": report.ok})
    if not report.ok:
        raise NotVerbatim(
            f"{len(report.problems)} kept example(s) are not verbatim in their traces "
            f"(first: {report.problems[0]}); see {out / VERBATIM}"
        )
    write_examples(out / EXAMPLES, selection.examples, "chat")
    write_examples(out / SHAREGPT, selection.examples, "sharegpt")
    partial = out / f".{DECISIONS}.partial"
    with partial.open("w", encoding="utf-8") as handle:
        for decision in selection.decisions:
            handle.write(json.dumps(decision.model_dump(mode="json"), ensure_ascii=False) + "\n")
    partial.replace(out / DECISIONS)
    write_json_atomic(out / STATS, statistics(selection))
    write_json_atomic(out / CRITERIA, criteria_record(criteria, selection))
    return report


def select_and_write(runs: Sequence[Path], out: Path, criteria: SelectCriteria) -> Selection:
    """Select from ``runs`` into ``out``, with the judge the criteria name (if any)."""
    from automem.models import load_model
    from automem.train.judge import Judge

    model = load_model(criteria.judge) if criteria.judge else None
    try:
        out.mkdir(parents=True, exist_ok=True)
        judge = Judge(model, out / "judge.jsonl") if model is not None else None
        selection = select(runs, criteria, judge)
        write_selection(out, selection, criteria)
    finally:
        if model is not None:
            model.close()
    return selection
