"""The selection criteria: which turns are candidates, how signals are weighed, what is kept.

Recorded in full (with each signal's definition) next to every dataset, so a dataset can be
explained and rebuilt from its runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from automem.core import Frozen
from automem.train.signals import BY_NAME, SignalParams

CANDIDATES = (
    "Every answered LOG call, and every answered PLAN call except one whose only commands are "
    "actions (the commit itself): the PLAN turns that consult memory, or that issue nothing "
    "the parser recognises. Taken verbatim from the trace; only finished episodes."
)
DEFAULT_WEIGHTS: dict[str, float] = {
    "retrieved_write": 2.0,
    "consistent_search": 1.0,
    "redundant_write": -2.0,
    "empty_search": -1.0,
    "empty_read": -1.0,
    "repeated_read": -1.0,
    "refused_command": -1.0,
    "unparseable": -3.0,
    "contradicted_write": -3.0,
}


class SelectCriteria(Frozen):
    weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="Weight of one hit of each signal; a turn's score is the sum over its hits.",
    )
    veto: tuple[str, ...] = Field(
        ("unparseable", "contradicted_write"),
        description="Signals one hit of which rejects a turn whatever its score.",
    )
    min_score: float = Field(
        0.0, description="A turn is accepted when its score is at least this (and no veto)."
    )
    params: SignalParams = SignalParams()
    top_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Episode steering: only the top share of each environment's episodes by "
        "progression (rounded up, at least one; ties by episode id) give examples.",
    )
    min_progression: float = Field(
        0.0, ge=0.0, le=1.0, description="Episodes below this progression give no examples."
    )
    judge: str | None = Field(
        None,
        description="Model spec of an LLM judge that reviews turns after post-processing and "
        "writes the reason of each verdict.",
    )
    judge_mode: Literal["veto", "decide"] = Field(
        "veto",
        description="veto: the judge sees the turns the signals accept and may reject them "
        "(its cost is bounded by them); decide: it sees every steered-in turn that "
        "post-processing keeps, the signals as evidence, and its verdict is final.",
    )

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown signals {unknown}; known: {', '.join(BY_NAME)}")
        return {**DEFAULT_WEIGHTS, **weights}

    @field_validator("veto")
    @classmethod
    def _known_veto(cls, veto: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(veto) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown veto signals {unknown}; known: {', '.join(BY_NAME)}")
        return veto

    def described(self) -> dict[str, Any]:
        """The criteria as recorded: values, candidate rule and each signal's definition."""
        return {
            **self.model_dump(mode="json"),
            "candidates": CANDIDATES,
            "signals": {name: BY_NAME[name].DEFINITION for name in BY_NAME},
        }


def load_criteria(path: Path | None, **overrides: Any) -> SelectCriteria:
    """Criteria from a YAML file (the field names), then the given non-None overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read criteria file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: criteria must be a mapping of field: value")
        data = loaded
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "horizon" in data:  # a flag names the one nested knob directly
        data["params"] = {**data.get("params", {}), "horizon": data.pop("horizon")}
    try:
        return SelectCriteria.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        source = f"{path}: " if path else ""
        raise ValueError(f"{source}criteria {where}: {first['msg']}") from None
