"""The example scaffolds: valid, their helpers apply to their game, and only helpers differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.agent.catalogue import helper_entry
from automem.agent.helpers import build_helpers
from automem.scaffold import load

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*-helpers.yaml"))


def test_there_is_one_example_per_game() -> None:
    assert [p.name for p in EXAMPLES] == [
        "crafter-helpers.yaml",
        "minihack-helpers.yaml",
        "nethack-helpers.yaml",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_its_parent_with_helpers(path: Path) -> None:
    example = load(path)
    parent = load(f"{example.game}-v0")
    assert example.parent == parent.name and example.helpers
    same = {"name", "description", "parent", "helpers"}
    assert example.model_dump(exclude=same) == parent.model_dump(exclude=same)
    assert len(build_helpers(example.helpers)) == len(example.helpers)
    for config in example.helpers:
        games = helper_entry(config.name)["games"]
        assert not games or example.game in games, config.name
