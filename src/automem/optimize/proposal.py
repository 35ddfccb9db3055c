"""Checks of a proposed scaffold revision before any episode is spent on it.

A proposal is a whole scaffold YAML or a unified diff of the parent's normalised YAML
(:func:`automem.scaffold.dump`). :func:`check_proposal` returns either the validated
:class:`CheckedProposal` or :class:`ProposalRejected` with every reason found, one line each,
naming the field, so the reviewer can fix them in the same session.

The method's constraints, as checked here:

- The text validates completely (:func:`automem.scaffold.validate_text`: schema, file names,
  vocabulary, templates, helper names and parameters). The schema already refuses a LOG
  without DONE, a PLAN without ACTION and any write op in PLAN (the two-phase rule: nothing
  about an action's outcome is written before it is observed).
- Memory stays model-driven: LOG keeps at least one write op, PLAN keeps at least one read op,
  and helpers that write files by code may not own every initial file: at least one initial
  file is written by the model only (no writing helper targets it). A helper writing a status
  file is fine; replacing the model's memory with code is not.
- At least one structural change from the parent (:func:`structural_changes`); wording,
  help texts, descriptions and file contents alone do not count.
- Lineage: a new name (not the parent's nor an earlier candidate's), ``parent`` set to the
  parent's name, the same game.
- Not a near-duplicate of an earlier candidate: no structural difference from it and its
  wording (whitespace-normalised) at least ``near_duplicate`` similar.

:func:`ask_until_valid` hands each refusal back to the reviewer for another try, up to a cap.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automem.agent.file_helpers import WritingHelper
from automem.agent.helpers import validate_helpers
from automem.memory import READ_OPS, WRITE_OPS
from automem.optimize.patch import PatchError, apply_patch, looks_like_patch
from automem.optimize.structure import structural_changes
from automem.scaffold import Scaffold, ScaffoldError, dump, validate_text

NEAR_DUPLICATE = 0.98  # word-level similarity at or above which wording counts as the same


@dataclass(frozen=True)
class CheckedProposal:
    """A proposal that passed every check: the scaffold, its text and what changed."""

    scaffold: Scaffold
    text: str
    changes: list[str]
    ok: bool = field(default=True, init=False)


@dataclass(frozen=True)
class ProposalRejected:
    """A proposal refused before evaluation; ``reasons`` go back to the reviewer."""

    reasons: list[str]
    ok: bool = field(default=False, init=False)

    def feedback(self) -> str:
        return "\n".join(f"- {reason}" for reason in self.reasons)


def check_proposal(
    proposal: str,
    parent: Scaffold,
    earlier: Sequence[Scaffold] = (),
    *,
    near_duplicate: float = NEAR_DUPLICATE,
    source: str = "proposal",
) -> CheckedProposal | ProposalRejected:
    """Check a proposed revision of ``parent`` (whole YAML or a patch of ``dump(parent)``)
    against the method's constraints and the ``earlier`` candidates (see the module)."""
    if not 0 < near_duplicate <= 1:
        raise ValueError("near_duplicate must be in (0, 1]")
    text = proposal
    if looks_like_patch(proposal):
        try:
            text = apply_patch(dump(parent), proposal)
        except PatchError as exc:
            return ProposalRejected([f"patch: {exc}"])
    try:
        child = validate_text(text, source)
    except ScaffoldError as exc:
        return ProposalRejected([" ".join(str(exc).split())])
    reasons = [
        *_lineage(child, parent, earlier),
        *_model_driven(child),
    ]
    changes = structural_changes(parent, child)
    if not changes:
        reasons.append(
            "structure: no structural change from the parent (wording, help, descriptions and "
            "file contents alone do not count); change files, vocabulary, helpers, routine or "
            "limits"
        )
    reasons += [
        f"near-duplicate: same structure as earlier candidate {other.name!r} and "
        f"{ratio:.1%} the same wording (limit {near_duplicate:.0%}); make a different change"
        for other in earlier
        if (ratio := duplicate_ratio(child, other)) >= near_duplicate
    ]
    if reasons:
        return ProposalRejected(reasons)
    return CheckedProposal(scaffold=child, text=text, changes=changes)


def duplicate_ratio(a: Scaffold, b: Scaffold) -> float:
    """0 when the scaffolds differ in structure; else the word-level similarity of their
    normalised YAML with the lineage fields and descriptions left out (1.0 = same words)."""
    if structural_changes(a, b):
        return 0.0
    words = [_wording(s) for s in (a, b)]
    if words[0] == words[1]:
        return 1.0
    matcher = difflib.SequenceMatcher(None, *words, autojunk=False)
    return matcher.ratio() if matcher.real_quick_ratio() > 0 else 0.0


def _wording(scaffold: Scaffold) -> list[str]:
    """The words of every field but the lineage and the description, in a fixed order."""
    data = scaffold.model_dump(mode="json", exclude={"name", "parent", "description"})
    return json.dumps(_collapse(data), sort_keys=True).split()


def _collapse(value: Any) -> Any:
    """``value`` with the whitespace inside every string collapsed to single spaces."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {key: _collapse(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_collapse(item) for item in value]
    return value


def _lineage(child: Scaffold, parent: Scaffold, earlier: Sequence[Scaffold]) -> list[str]:
    reasons = []
    taken = {parent.name, *(s.name for s in earlier)}
    if child.name in taken:
        reasons.append(f"name: {child.name!r} is already used; give the revision a new name")
    if child.parent != parent.name:
        reasons.append(
            f"parent: must be {parent.name!r} (the scaffold revised), got {child.parent!r}"
        )
    if child.game != parent.game:
        reasons.append(f"game: must stay {parent.game!r}, got {child.game!r}")
    return reasons


def _model_driven(child: Scaffold) -> list[str]:
    reasons = []
    if not set(child.vocabulary.log) & WRITE_OPS:
        reasons.append(
            f"vocabulary.log: keep at least one write op ({', '.join(sorted(WRITE_OPS))}): "
            "the model writes its memory in LOG"
        )
    if not set(child.vocabulary.plan) & READ_OPS:
        reasons.append(
            f"vocabulary.plan: keep at least one read op ({', '.join(sorted(READ_OPS))}): "
            "the model reads its memory before it acts"
        )
    owned = code_written_files(child)
    if child.files and all(f.name in owned for f in child.files):
        reasons.append(
            "helpers: writing helpers target every initial file "
            f"({', '.join(sorted(owned))}); leave at least one file written by the model only"
        )
    return reasons


def code_written_files(scaffold: Scaffold) -> set[str]:
    """Names of the memory files the scaffold's writing helpers write (their ``file`` or
    ``files`` parameter)."""
    owned: set[str] = set()
    for cls, params in validate_helpers(scaffold.helpers):
        if not issubclass(cls, WritingHelper):
            continue
        target = getattr(params, "file", None)
        owned |= {target} if isinstance(target, str) else set()
        owned |= set(getattr(params, "files", ()) or ())
    return owned


Ask = Callable[[ProposalRejected | None], str]  # the previous refusal (None first) -> proposal


@dataclass(frozen=True)
class Revision:
    """The outcome of asking for a revision until it passes the checks or the cap is hit."""

    result: CheckedProposal | ProposalRejected  # the last attempt's
    attempts: list[CheckedProposal | ProposalRejected]


def ask_until_valid(
    ask: Ask,
    parent: Scaffold,
    earlier: Sequence[Scaffold] = (),
    *,
    cap: int = 3,
    near_duplicate: float = NEAR_DUPLICATE,
) -> Revision:
    """Ask for a proposal, check it, and hand each refusal back to ``ask`` (the reviewer's
    session) for another try, at most ``cap`` attempts in all."""
    if cap < 1:
        raise ValueError("cap must be at least 1")
    attempts: list[CheckedProposal | ProposalRejected] = []
    refusal: ProposalRejected | None = None
    for number in range(1, cap + 1):
        result = check_proposal(
            ask(refusal), parent, earlier, near_duplicate=near_duplicate, source=f"attempt {number}"
        )
        attempts.append(result)
        if isinstance(result, CheckedProposal):
            break
        refusal = result
    return Revision(result=attempts[-1], attempts=attempts)
