"""A reviewer without an LLM: statistics of the parent's runs, rules, one catalogue change.

:class:`RulesReviewer` implements :class:`~automem.optimize.review.Reviewer`. It reads the
parent's finished episodes (:mod:`automem.optimize.rules_diagnosis`), measures every rule of
:mod:`automem.optimize.rules_compose` that applies to the game, ranks the rules that fire by
the strength of their evidence (figure / threshold; ties in the book's order) and composes
the first untried tuning of the strongest untried rule. Tried means: fired by an earlier
attempt from the same parent (its description carries ``[rules: ID/N]``), or its helper was
switched on or retuned by an earlier candidate of the same parent, or the child would have
the same structure as any earlier candidate. A continuation reads the failed candidate's
scores: if it did not lose ground (gain >= 0) the same rule is retuned (its next tuning),
otherwise the next rule is taken. Every proposal passes :func:`check_proposal`; a refused one
is recorded and the next tuning or rule is tried. Nothing depends on time or chance, so the
same inputs give the same proposal. The reasoning is written to ``attempt_dir/rules.json``,
the only file it writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automem.agent.helpers import validate_helpers
from automem.optimize.proposal import CheckedProposal, check_proposal
from automem.optimize.review import EarlierAttempt, ReviewContext, ReviewOutcome
from automem.optimize.rules_compose import RULES, Change, Evidence, Rule
from automem.optimize.rules_diagnosis import EpisodeFigures, Figures, NoEvidence, diagnose, pool
from automem.optimize.structure import structural_changes
from automem.runs.directory import RunDirError
from automem.scaffold import Scaffold, ScaffoldError, validate_text
from automem.traces.io import TraceError

REPORT_FILE = "rules.json"
REPORT_VERSION = 1
_MARK = re.compile(r"\[rules: ([a-z_]+)/(\d+)\]")


@dataclass(frozen=True)
class Plan:
    """Which rules to try, in order, and the tuning to start each from."""

    figures: Figures
    order: list[tuple[Rule, Evidence, int]]  # (rule, evidence, first tuning index)
    notes: dict[str, str]  # rule id -> why it is skipped or where it starts
    continuation: dict[str, Any] | None = None


class RulesReviewer:
    """Composes one structural change from the helper catalogue by ranked rules."""

    name = "rules"

    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids must be unique, got {ids}")
        self.rules = tuple(rules)

    def review(self, context: ReviewContext, attempt_dir: Path) -> ReviewOutcome:
        attempt_dir.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"reviewer": self.name, "version": REPORT_VERSION}
        report["parent_runs"] = [str(p) for p in context.parent_runs]
        try:
            parent = validate_text(context.parent_text, "the parent scaffold")
            episodes = diagnose(context.parent_runs)
        except (ScaffoldError, NoEvidence, RunDirError, TraceError) as exc:
            return _finish(report, attempt_dir, failure=" ".join(str(exc).split()))
        earlier, report["unreadable_candidates"] = read_candidates(context.earlier_candidates)
        figures = pool(episodes)
        report.update(parent=parent.name, game=context.game, figures=_figures(figures, episodes))
        plan = self.plan(context, parent, earlier, figures)
        report["rules"] = [
            {
                "id": rule.id,
                "summary": rule.summary,
                "evidence": evidence.line(),
                "value": evidence.value,
                "threshold": evidence.threshold,
                "count": evidence.count,
                "strength": round(evidence.strength, 6),
                "fires": evidence.fires,
                "decision": plan.notes.get(rule.id, ""),
            }
            for rule, evidence in self.measure(context.game, figures)
        ]
        report["continuation"] = plan.continuation
        return self.compose(plan, parent, earlier, report, attempt_dir)

    # ------------------------------------------------------------------ evidence and order

    def measure(self, game: str, figures: Figures) -> list[tuple[Rule, Evidence]]:
        return [(r, r.measure(figures)) for r in self.rules if r.applies_to(game)]

    def plan(
        self,
        context: ReviewContext,
        parent: Scaffold,
        earlier: list[Scaffold],
        figures: Figures,
    ) -> Plan:
        measured = self.measure(context.game, figures)
        ranked = sorted(
            (item for item in measured if item[1].fires), key=lambda item: -item[1].strength
        )  # sorted() is stable: ties keep the rule book's order
        notes = {r.id: "not a candidate" for r, e in measured if not e.fires}
        tried = tried_rules(context.earlier, parent, earlier, self.rules)
        retune, continuation = self._continuation(context, figures)
        order = []
        if retune is not None:
            rule_id, start = retune
            for rule, evidence in measured:
                if rule.id != rule_id:
                    continue
                if start < len(rule.tunings(figures, parent)):
                    order.append((rule, evidence, start))
                    notes[rule.id] = f"retuned by the continuation, from tuning {start + 1}"
                else:
                    notes[rule.id] = (
                        f"the continuation would retune it: it has no tuning {start + 1}"
                    )
        for rule, evidence in ranked:
            if rule.id in notes:
                continue
            if rule.id in tried:
                notes[rule.id] = f"skipped: {tried[rule.id]}"
                continue
            order.append((rule, evidence, 0))
            notes[rule.id] = f"candidate, rank {len(order)}"
        return Plan(figures=figures, order=order, notes=notes, continuation=continuation)

    def _continuation(
        self, context: ReviewContext, figures: Figures
    ) -> tuple[tuple[str, int] | None, dict[str, Any] | None]:
        """(rule id, tuning to start from) to retune, or None; and what was read."""
        failed = context.continuation_of
        if failed is None:
            return None, None
        attempt = next((e for e in context.earlier if e.id == failed.attempt), None)
        mark = _MARK.search(attempt.description) if attempt is not None else None
        gain = score_gain(failed.scores)
        info: dict[str, Any] = {"attempt": failed.attempt, "scores": failed.scores, "gain": gain}
        if mark is None:
            info["decision"] = "the failed candidate is not one of this reviewer's: next rule"
            return None, info
        rule_id, tuning = mark.group(1), int(mark.group(2))
        info["rule"], info["tuning"] = rule_id, tuning
        rule = next((r for r in self.rules if r.id == rule_id), None)
        if rule is not None and failed.runs:
            info["figure"] = _figure_moved(rule, figures, failed.runs)
        if gain is None or gain < 0:
            why = "no score gives its gain" if gain is None else f"it lost ground ({gain:+.4f})"
            info["decision"] = f"{why}: next rule"
            return None, info
        info["decision"] = f"it did not lose ground ({gain:+.4f}): retune {rule_id}"
        return (rule_id, tuning), info  # tuning N (1-based) -> index N: the next one

    # ------------------------------------------------------------------ composing

    def compose(
        self,
        plan: Plan,
        parent: Scaffold,
        earlier: list[Scaffold],
        report: dict[str, Any],
        attempt_dir: Path,
    ) -> ReviewOutcome:
        refused: list[dict[str, Any]] = []
        for rule, evidence, start in plan.order:
            tunings = rule.tunings(plan.figures, parent)
            for index in range(start, len(tunings)):
                change = tunings[index]
                if _is_noop(change, parent):
                    reason = "the parent already has exactly this"
                    refused.append({"rule": rule.id, "tuning": index + 1, "reason": reason})
                    continue
                description = describe(rule, evidence, change, index, len(tunings))
                name = child_name(parent, rule, index, earlier)
                text = change.apply(parent, name=name, description=description)
                checked = check_proposal(text, parent, earlier, source=f"rules: {rule.id}")
                if not isinstance(checked, CheckedProposal):
                    reason = "; ".join(checked.reasons)
                    refused.append({"rule": rule.id, "tuning": index + 1, "reason": reason})
                    continue
                report["refused"] = refused
                report["chosen"] = {
                    "rule": rule.id,
                    "tuning": index + 1,
                    "of": len(tunings),
                    "change": change.label,
                    "name": name,
                    "changes": checked.changes,
                }
                analysis = analyse(report, rule, evidence, change)
                return _finish(
                    report,
                    attempt_dir,
                    scaffold_text=checked.text,
                    analysis=analysis,
                    description=description,
                )
        report["refused"] = refused
        firing = [r["id"] for r in report["rules"] if r["fires"]]
        if not firing:
            why = "no rule fires on the parent's runs (every figure is under its threshold)"
        else:
            why = (
                f"every rule that fires ({', '.join(firing)}) was tried from this parent or "
                "has no untried tuning left"
            )
        return _finish(report, attempt_dir, failure=f"rules reviewer: {why}")


def _figure_moved(rule: Rule, parent: Figures, runs: Sequence[Path]) -> str:
    """The rule's figure on the parent's runs and on the failed candidate's, as one line."""
    before = rule.measure(parent)
    try:
        after = rule.measure(pool(diagnose(runs)))
    except (NoEvidence, RunDirError, TraceError) as exc:
        return f"the failed candidate's runs cannot be read: {' '.join(str(exc).split())}"
    return (
        f"{before.figure} {before.value:.3g} on the parent's runs, {after.value:.3g} on the "
        "failed candidate's"
    )


# ---------------------------------------------------------------------- what was tried


def tried_rules(
    attempts: Sequence[EarlierAttempt],
    parent: Scaffold,
    candidates: Sequence[Scaffold],
    rules: Sequence[Rule],
) -> dict[str, str]:
    """rule id -> why it counts as tried from ``parent`` (attempts of other parents ignored)."""
    tried: dict[str, str] = {}
    by_name = {c.name: c for c in candidates}
    helper_of = {r.helper: r.id for r in rules if r.helper}
    for attempt in attempts:
        if attempt.parent != parent.name:
            continue
        for mark in _MARK.finditer(attempt.description):
            tried.setdefault(mark.group(1), f"fired by attempt {attempt.id} ({attempt.verdict})")
        candidate = by_name.get(attempt.candidate or "")
        if candidate is None:
            continue
        for helper, how in helper_delta(parent, candidate).items():
            if (rule_id := helper_of.get(helper)) is not None:
                tried.setdefault(rule_id, f"attempt {attempt.id} already {how} {helper}")
    return tried


def helper_delta(parent: Scaffold, child: Scaffold) -> dict[str, str]:
    """Helper name -> 'switched on' or 'retuned', for the child's helpers new or changed."""
    before = _helper_params(parent)
    return {
        name: "switched on" if name not in before else "retuned"
        for name, params in _helper_params(child).items()
        if before.get(name) != params
    }


def _helper_params(scaffold: Scaffold) -> dict[str, dict[str, Any]]:
    validated = validate_helpers(scaffold.helpers)
    return {
        config.name: params.model_dump(mode="json")
        for config, (_, params) in zip(scaffold.helpers, validated, strict=True)
    }


def read_candidates(texts: Sequence[str]) -> tuple[list[Scaffold], list[str]]:
    """The earlier candidates that validate here, and one line for each that does not.

    One that does not (e.g. it uses a helper from an attempt's code, not loaded in this
    process) cannot have the structure of a catalogue change, so it is left out of the
    duplicate checks (and the rules' names, hashes of parent and change, cannot meet its).
    """
    readable, unreadable = [], []
    for number, text in enumerate(texts, 1):
        try:
            readable.append(validate_text(text, f"earlier candidate {number}"))
        except ScaffoldError as exc:
            unreadable.append(" ".join(str(exc).split()))
    return readable, unreadable


def _is_noop(change: Change, parent: Scaffold) -> bool:
    probe = change.apply(parent, name=f"{parent.name}-probe", description="")
    return not structural_changes(parent, validate_text(probe, "probe"))


def score_gain(scores: dict[str, float]) -> float | None:
    """The candidate's gain over its parent from the optimiser's scores, or None.

    Read, in order of preference: a ``gain`` key of the gate, then of the screen, then any;
    else a pair of keys that differ only in ``parent``/``child`` (e.g. ``gate.parent`` and
    ``gate.child``, or ``parent_mean`` and ``child_mean``), the gate's first.
    """
    keys = sorted(scores)
    gains = [k for k in keys if k.lower().endswith("gain")]
    pairs = [
        (k, twin)
        for k in keys
        if "parent" in k.lower() and (twin := k.replace("parent", "child")) in scores
    ]
    for stage in ("gate", "screen", ""):
        for key in gains:
            if stage in key.lower():
                return float(scores[key])
        for before, after in pairs:
            if stage in before.lower():
                return float(scores[after] - scores[before])
    return None


# ---------------------------------------------------------------------- wording and names


def describe(rule: Rule, evidence: Evidence, change: Change, index: int, total: int) -> str:
    return (
        f"[rules: {rule.id}/{index + 1}] {change.label} (tuning {index + 1} of {total}): "
        f"{rule.summary}; {evidence.figure} {evidence.value:.3g} >= {evidence.threshold:.3g} "
        f"({evidence.detail})."
    )


def child_name(parent: Scaffold, rule: Rule, index: int, earlier: Sequence[Scaffold]) -> str:
    """``<game>-r-<rule>-<6 hex>``: from the parent and the change, new to the lineage."""
    taken = {parent.name, *(e.name for e in earlier)}
    seed = f"{parent.name}|{parent.digest()}|{rule.id}|{index}"
    for n in range(100):
        digest = hashlib.sha256(f"{seed}|{n}".encode()).hexdigest()[:6]
        name = f"{parent.game}-r-{rule.id}-{digest}"[:64]
        if name not in taken:
            return name
    raise ValueError(f"no free candidate name for rule {rule.id!r}")


def analyse(report: dict[str, Any], rule: Rule, evidence: Evidence, change: Change) -> str:
    figures = report["figures"]["pooled"]
    lines = [
        f"Rules reviewer on {figures['episodes']} finished episodes, {figures['steps']} steps, "
        f"mean progression {figures['progression']:.4f}.",
        f"Rule that fired: {rule.id} (strength {evidence.strength:.2f}): {evidence.line()}.",
        f"Proposed: {change.label}.",
        "Evidence of every rule:",
    ]
    lines += [f"- {r['id']}: {r['evidence']}; {r['decision']}" for r in report["rules"]]
    if continuation := report.get("continuation"):
        moved = f" ({continuation['figure']})" if "figure" in continuation else ""
        lines.append(f"Continuation: {continuation['decision']}{moved}.")
    for refusal in report["refused"]:
        lines.append(f"Not proposed: {refusal['rule']}/{refusal['tuning']}: {refusal['reason']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- the report


def _figures(figures: Figures, episodes: list[EpisodeFigures]) -> dict[str, Any]:
    return {
        "pooled": figures.model_dump(mode="json"),
        "episodes": [e.model_dump(mode="json") for e in episodes],
    }


def _finish(report: dict[str, Any], attempt_dir: Path, **outcome: Any) -> ReviewOutcome:
    result = ReviewOutcome(**outcome)
    report["outcome"] = {
        "failure": result.failure,
        "description": result.description,
        "proposed": result.scaffold_text is not None,
    }
    path = attempt_dir / REPORT_FILE
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result
