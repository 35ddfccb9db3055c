"""One attempt: a review session, the proposal's checks, screen, gate, held-out, decision.

Each stage is recorded in the lineage when it ends, and a resumed attempt starts at the
first stage not recorded: a finished session (``review.json``) is never rerun, an unfinished
one's files are set aside and the session runs again; an unfinished evaluation resumes
through :func:`automem.runs.run`, keeping its finished episodes.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from automem.agent.helpers import user_helper
from automem.core import Usage
from automem.optimize.config import ParetoRule
from automem.optimize.evaluate import Evaluation, evaluate, stage_config
from automem.optimize.gate import Decision, screen, screening_subset
from automem.optimize.layout import write_text_atomic
from automem.optimize.lineage import AttemptRecord, DecisionRecord, Stage, VersionRecord
from automem.optimize.objectives import objective
from automem.optimize.proposal import CheckedProposal, check_proposal
from automem.optimize.review import (
    EarlierAttempt,
    FailedCandidate,
    ReviewContext,
    ReviewOutcome,
    Verdict,
)
from automem.optimize.transcript import read_transcript
from automem.optimize.validity import run_episodes
from automem.runs import EpisodeSummary, TaskConfig, plugins
from automem.runs.directory import write_json_atomic
from automem.scaffold import Scaffold, ScaffoldError, diff, dump, load

if TYPE_CHECKING:
    from automem.optimize.search import Search


def run_attempt(s: Search, record: AttemptRecord) -> AttemptRecord:
    """Carry ``record`` from the stage it reached to its verdict."""
    folder = s.opt.attempt_dir(record.id)
    parent = s.lineage.version(record.parent)
    if record.status == "reviewing":
        outcome = _review(s, record, folder, parent)
        checked = _check(s, record, outcome, folder, parent)
        if isinstance(checked, str):
            return _finish(s, record, "failed", "review" if outcome.failure else "check", checked)
        _write_candidate(s, record, folder, checked, outcome, parent)
    return _evaluate(s, record, folder, parent)


# ---------------------------------------------------------------------- review


def _review(s: Search, record: AttemptRecord, folder: Path, parent: VersionRecord) -> ReviewOutcome:
    path = folder / "review.json"
    if path.exists():
        try:
            outcome = ReviewOutcome.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise ValueError(
                f"{path}: not a valid review outcome ({exc}); delete it to rerun the session"
            ) from None
    else:
        s.spend.check_review(s.first_stage())
        if (aside := s.opt.set_aside(folder)) is not None:
            s.listener.note(f"{record.id}: an unfinished session's files kept in {aside.name}")
        record.interrupted_usage = interrupted_usage(folder)
        folder.mkdir(parents=True, exist_ok=True)
        s.listener.note(f"{record.id}: {s.reviewer.name} reviews {record.parent}")
        outcome = s.reviewer.review(_context(s, record, parent), folder)
        write_json_atomic(path, outcome)
    record.review_usage, record.review_turns = outcome.usage, outcome.turns
    record.description = outcome.description
    return outcome


def interrupted_usage(folder: Path) -> Usage:
    """What the killed sessions set aside in ``folder`` spent: the usage of every reply their
    transcripts recorded (a session killed mid-way was still paid for)."""
    prompt = completion = 0
    costs: list[float] = []
    for path in sorted(folder.glob(".interrupted-*/transcript.jsonl")):
        for event in read_transcript(path):
            if event.get("event") != "reply":
                continue
            usage = Usage.model_validate(event.get("usage") or {})
            prompt, completion = prompt + usage.prompt_tokens, completion + usage.completion_tokens
            if usage.cost_usd is not None:
                costs.append(usage.cost_usd)
    cost = sum(costs) if costs else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)


def _context(s: Search, record: AttemptRecord, parent: VersionRecord) -> ReviewContext:
    before = s.lineage.attempts[: s.lineage.attempts.index(record)]
    limits = s.config.review
    tokens, cost = s.spend.review_caps()
    if tokens is not None:
        limits = limits.model_copy(update={"max_tokens": max(1, min(limits.max_tokens, tokens))})
    if cost is not None:
        capped = cost if limits.max_cost_usd is None else min(limits.max_cost_usd, cost)
        limits = limits.model_copy(update={"max_cost_usd": max(0.0, capped)})
    failed = s.lineage.attempt(record.continuation_of) if record.continuation_of else None
    return ReviewContext(
        game=s.config.game,
        objective=objective(s.config.game),
        parent_text=dump(s.version_scaffold(parent)),
        parent_runs=(s.opt.root / parent.gate.run,),
        earlier=tuple(_earlier(s, a) for a in before if a.status == "done"),
        earlier_candidates=tuple(
            _read(s.opt.attempt_dir(a.id) / "candidate.yaml") for a in before if a.candidate
        ),
        continuation_of=_failed(s, failed) if failed is not None else None,
        allow_code=s.config.allow_code,
        limits=limits,
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def scores(record: AttemptRecord) -> dict[str, float]:
    """What a reviewer is shown of an attempt's scores: the screen's and the gate's, never
    the held-out seeds' (they must not steer the search they report on)."""
    found: dict[str, float] = {}
    for stage, decision in (("screen", record.screen_decision), ("gate", record.decision)):
        if decision is not None:
            found |= {f"{stage}_{k}": v for k, v in decision.statistics.items()}
    for evaluation in (record.screen, record.gate):
        if evaluation is not None and evaluation.mean is not None:
            found[f"{evaluation.stage}_mean"] = evaluation.mean
    return found


def _earlier(s: Search, a: AttemptRecord) -> EarlierAttempt:
    return EarlierAttempt(
        id=a.id,
        version=a.version,
        kind=a.kind,
        parent=a.parent,
        candidate=a.candidate,
        description=a.description,
        verdict=a.verdict or "failed",
        reason=a.reason,
        scores=scores(a),
        diff=_read(s.opt.attempt_dir(a.id) / "diff.patch"),
    )


def _failed(s: Search, a: AttemptRecord) -> FailedCandidate:
    folder = s.opt.attempt_dir(a.id)
    return FailedCandidate(
        attempt=a.id,
        scaffold_text=_read(folder / "candidate.yaml"),
        diff=_read(folder / "diff.patch"),
        scores=scores(a),
        runs=tuple(s.opt.root / st.run for st in (a.screen, a.gate) if st is not None),
    )


# ---------------------------------------------------------------------- checks


def _check(
    s: Search, record: AttemptRecord, outcome: ReviewOutcome, folder: Path, parent: VersionRecord
) -> CheckedProposal | str:
    """The proposal checked again here (a reviewer's word is not trusted), or why it fails."""
    if outcome.failure:
        return f"no proposal: {outcome.failure}"
    if outcome.scaffold_text is None:
        return "no proposal: the reviewer returned neither a scaffold nor a reason"
    code = _code_files(s, outcome, folder)
    if isinstance(code, str):
        return code
    earlier: list[Scaffold] = []
    for a in s.lineage.attempts[: s.lineage.attempts.index(record)]:
        if a.candidate:
            own = [str(s.opt.attempt_dir(a.id) / f) for f in a.code_files]
            plugins.load_plugins([*(str(s.opt.root / p) for p in _inherited(s, a)), *own])
            earlier.append(load(s.opt.attempt_dir(a.id) / "candidate.yaml"))
    try:
        result = check_proposal(
            outcome.scaffold_text, s.version_scaffold(parent), earlier, source="candidate"
        )
    except ScaffoldError as exc:
        return f"proposal check: {exc}"
    if not isinstance(result, CheckedProposal):
        return "proposal check: " + "; ".join(result.reasons)
    own = [folder / f for f in code]
    inherited = [s.opt.root / p for p in parent.plugins]
    if problem := _foreign_helper(result.scaffold, [*inherited, *own]):
        return problem
    record.code_files = code
    return result


def _foreign_helper(scaffold: Scaffold, files: list[Path]) -> str | None:
    """Why the candidate uses a helper defined in another attempt's code, which its own
    evaluation workers would not load; None when every such helper is its own or inherited."""
    allowed = {plugins.module_name(p.resolve()) for p in files}
    for helper in scaffold.helpers:
        entry = user_helper(helper.name)
        if entry is None:
            continue
        module = (entry if isinstance(entry, str) else plugins.reference(entry)).split(":")[0]
        if module.startswith("_automem_plugin_") and module not in allowed:
            return (
                f"helper {helper.name!r} comes from the code of another attempt, which this "
                "candidate does not carry; write it in this attempt's folder (--allow-code)"
            )
    return None


def _inherited(s: Search, a: AttemptRecord) -> list[str]:
    return s.lineage.version(a.parent).plugins


def _code_files(s: Search, outcome: ReviewOutcome, folder: Path) -> list[str] | str:
    """The helper source files a proposal brings (relative to its folder), imported; or why
    they are refused. Without --allow-code a candidate is data only."""
    if not outcome.code_files:
        return []
    if not s.config.allow_code:
        return (
            f"code files {list(outcome.code_files)} refused: a candidate is data only unless "
            "the optimisation runs with --allow-code"
        )
    root = folder.resolve()
    found: list[str] = []
    for name in outcome.code_files:
        path = (folder / name).resolve()
        if not path.is_relative_to(root) or path.suffix != ".py" or not path.is_file():
            return f"code file {name!r}: must be a .py file inside the attempt's folder"
        try:
            plugins.import_plugin(str(path))
        except plugins.PluginError as exc:
            return f"code file {name!r}: {exc}"
        found.append(str(path.relative_to(root)))
    return found


def _write_candidate(
    s: Search,
    record: AttemptRecord,
    folder: Path,
    checked: CheckedProposal,
    outcome: ReviewOutcome,
    parent: VersionRecord,
) -> None:
    write_text_atomic(folder / "candidate.yaml", dump(checked.scaffold))
    patch = diff(
        s.version_scaffold(parent), checked.scaffold, f"{record.parent}.yaml", "candidate.yaml"
    )
    write_text_atomic(folder / "diff.patch", patch)
    record.candidate = checked.scaffold.name
    record.changes = list(checked.changes)
    record.status = "evaluating"
    s.lineage.put(record)
    s.save()
    s.listener.note(f"{record.id}: candidate {record.candidate}: {'; '.join(record.changes)}")


# ---------------------------------------------------------------------- evaluation


def candidate_plugins(s: Search, record: AttemptRecord) -> list[str]:
    """The candidate's helper files (its parent's, then its own), relative to the root."""
    folder = s.opt.relative(s.opt.attempt_dir(record.id))
    return [*_inherited(s, record), *(f"{folder}/{f}" for f in record.code_files)]


def _run(
    s: Search, record: AttemptRecord, stage: Stage, tasks: tuple[TaskConfig, ...]
) -> Evaluation:
    folder = s.opt.attempt_dir(record.id)
    extra = [str(s.opt.root / p) for p in candidate_plugins(s, record)]
    config = stage_config(s.config, folder / "candidate.yaml", tasks, [*s.config.plugins, *extra])
    return evaluate(
        s.opt,
        stage,
        folder / "runs" / stage,
        config,
        config=s.config,
        spend=s.spend,
        listener=s.listener,
        label=record.id,
    )


def _evaluate(
    s: Search, record: AttemptRecord, folder: Path, parent: VersionRecord
) -> AttemptRecord:
    parent_gate = run_episodes(s.opt.root / parent.gate.run)
    if record.screen_decision is None and (refused := _screen(s, record, parent_gate)):
        return refused
    if record.decision is None:
        ev = _run(s, record, "gate", s.gate_tasks)
        record.gate = ev.record
        if not ev.record.valid:
            return _finish(s, record, "invalid", "gate", "; ".join(ev.record.reasons))
        rule = s.config.acceptance
        if isinstance(rule, ParetoRule):
            decision = s.trial_pool().admit(record.candidate or record.id, ev.episodes)
        else:
            decision = rule.build().decide(parent_gate, ev.episodes)
        record.decision = _decision(decision)
        if not decision.accepted:
            return _finish(s, record, "rejected", "gate", decision.reason)
    if record.gate is None or record.candidate is None or record.decision is None:
        raise ValueError(f"attempt {record.id}: accepted without a gate decision")
    version = next((v for v in s.lineage.versions if v.attempt == record.id), None)
    if version is None:  # the gate accepted it: it is the next version from now on
        version = VersionRecord(
            version=record.version,
            scaffold=record.candidate,
            file=s.opt.relative(folder / "candidate.yaml"),
            attempt=record.id,
            parent=record.parent,
            gate=record.gate,
            plugins=candidate_plugins(s, record),
        )
        s.lineage.put(record)
        s.add_version(version)
    if s.heldout_tasks and version.heldout is None:
        version.heldout = record.heldout = _run(s, record, "heldout", s.heldout_tasks).record
    return _finish(s, record, "accepted", "gate", record.decision.reason)


def _screen(
    s: Search, record: AttemptRecord, parent_gate: list[EpisodeSummary]
) -> AttemptRecord | None:
    """The cheap screen on a few gate instances: the finished attempt if it refuses the
    candidate, None if the candidate goes on to the gate (or there is nothing to screen)."""
    keys = [(t.env, seed) for t in s.gate_tasks for seed in t.seeds]
    if s.first_stage() == len(keys):
        return None  # no screening, or the screen would be the whole gate
    seed = zlib.crc32(f"{s.config.seed}:{record.id}".encode())  # a new minibatch each attempt
    subset = screening_subset(keys, s.config.screen_size, seed=seed)
    tasks = tuple(
        t.model_copy(update={"seeds": tuple(x for x in t.seeds if (t.env, x) in subset)})
        for t in s.gate_tasks
        if any(k[0] == t.env for k in subset)
    )
    ev = _run(s, record, "screen", tasks)
    record.screen = ev.record
    if not ev.record.valid:
        return _finish(s, record, "invalid", "screen", "; ".join(ev.record.reasons))
    decision = screen(parent_gate, ev.episodes, subset)
    record.screen_decision = _decision(decision)
    if not decision.accepted:
        return _finish(s, record, "rejected", "screen", decision.reason)
    s.save()
    return None


def _decision(d: Decision) -> DecisionRecord:
    return DecisionRecord(
        accepted=d.accepted, rule=d.rule, reason=d.reason, statistics=d.statistics
    )


def _finish(
    s: Search, record: AttemptRecord, verdict: Verdict, stage: str, reason: str
) -> AttemptRecord:
    record.verdict, record.reason, record.status = verdict, reason, "done"
    record.ended_at_stage = stage  # type: ignore[assignment]
    folder = s.opt.attempt_dir(record.id)
    folder.mkdir(parents=True, exist_ok=True)
    decided = record.decision or record.screen_decision
    write_json_atomic(
        folder / "decision.json",
        {
            "attempt": record.id,
            "verdict": verdict,
            "stage": stage,
            "reason": reason,
            "rule": decided.rule if decided else None,
            "statistics": decided.statistics if decided else {},
            "screen": record.screen_decision.model_dump() if record.screen_decision else None,
            "gate": record.decision.model_dump() if record.decision else None,
            "cost": {
                "review_tokens": record.review_tokens,
                "review_cost_usd": record.review_cost_usd,
                "review_turns": record.review_turns,
                "episodes": record.episodes,
                "agent_tokens": sum(
                    st.agent_tokens for st in (record.screen, record.gate, record.heldout) if st
                ),
                "agent_cost_usd": sum(
                    st.agent_cost_usd for st in (record.screen, record.gate, record.heldout) if st
                ),
            },
        },
    )
    s.lineage.put(record)
    s.save()
    s.listener.note(f"{record.id}: {verdict} at the {stage}: {reason}")
    return record
