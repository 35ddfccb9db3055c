"""Reviewers by name, imported only when one is asked for."""

from __future__ import annotations

from typing import Any

from automem.optimize.review import Reviewer


def resolve_reviewer(name: str, *, compact: bool = False) -> Reviewer:
    """``rules``: the reviewer without an LLM; any other name is the reviewer model's spec.

    ``compact`` gives a model reviewer the short session of small local models (see
    :class:`~automem.optimize.reviewer.LLMReviewer`); the rules reviewer refuses it.
    """
    if name == "rules":
        if compact:
            raise ValueError("--compact-review is for a model reviewer; 'rules' has no session")
        from automem.optimize.rules import RulesReviewer

        return RulesReviewer()
    from automem.models import load_model

    model = load_model(name)  # a bad spec fails here, naming the backend
    from automem.optimize.reviewer import LLMReviewer

    return LLMReviewer(model, compact=compact)


def reviewer_identity(reviewer: Reviewer) -> dict[str, Any]:
    """What the optimisation records about its reviewer: its name and, for a model-driven
    one, the model's identity."""
    record: dict[str, Any] = {"name": reviewer.name}
    model = getattr(reviewer, "model", None)
    identity = getattr(model, "identity", None)
    if identity is not None and hasattr(identity, "model_dump"):
        record["model"] = identity.model_dump(mode="json")
    if getattr(reviewer, "compact", False):
        record["compact"] = True
    return record
