"""What an optimisation records about its reviewer."""

from __future__ import annotations

import pytest

from automem.models import ScriptedChatModel
from automem.optimize.reviewers import reviewer_identity
from tests.optimize.reviewers import PlanReviewer


class ModelReviewer(PlanReviewer):
    name = "llm"

    def __init__(self) -> None:
        super().__init__()
        self.model = ScriptedChatModel([], spec="scripted-chat")


def test_a_model_driven_reviewer_is_recorded_with_its_model() -> None:
    record = reviewer_identity(ModelReviewer())
    assert record["name"] == "llm" and record["model"]["spec"] == "scripted-chat"
    assert reviewer_identity(PlanReviewer()) == {"name": "plan"}


def test_the_package_exports_both_reviewers_and_resolves_them_by_name() -> None:
    from automem.optimize import LLMReviewer, RulesReviewer, resolve_reviewer

    assert isinstance(resolve_reviewer("rules"), RulesReviewer)
    llm = resolve_reviewer("scripted")
    assert isinstance(llm, LLMReviewer) and llm.model.identity.spec == "scripted"


def test_a_compact_model_reviewer_is_resolved_and_recorded_as_such() -> None:
    from automem.optimize import LLMReviewer, resolve_reviewer

    compact = resolve_reviewer("scripted", compact=True)
    assert isinstance(compact, LLMReviewer) and compact.compact
    assert reviewer_identity(compact)["compact"] is True
    assert "compact" not in reviewer_identity(resolve_reviewer("scripted"))
    with pytest.raises(ValueError, match="--compact-review is for a model reviewer"):
        resolve_reviewer("rules", compact=True)
