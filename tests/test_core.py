"""The per-step values of the environment protocol check and normalise what envs give them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from automem.core import Observation, StepResult


def _result(**overrides: object) -> StepResult:
    fields: dict[str, object] = {
        "observation": Observation(text="a room", short_term="inventory"),
        "reward": 0.0,
        "terminated": False,
        "truncated": False,
        "progression": 0.25,
        "action": "north",
        "valid": True,
    }
    fields.update(overrides)
    return StepResult(**fields)  # type: ignore[arg-type]


def test_numpy_numbers_and_flags_become_plain_python_values() -> None:
    result = _result(
        reward=np.float32(1.5),
        terminated=np.bool_(True),
        truncated=np.bool_(False),
        progression=np.float64(0.5),
        valid=np.int64(0),
    )
    assert type(result.reward) is float and result.reward == 1.5
    assert result.terminated is True and result.truncated is False and result.valid is False
    assert type(result.progression) is float and result.done
    # Plain values serialise: traces write these fields as JSON.
    json.dumps({"reward": result.reward, "done": result.done, "valid": result.valid})


@pytest.mark.parametrize("progression", [-0.01, 1.5, float("nan")])
def test_progression_outside_zero_one_is_refused(progression: float) -> None:
    with pytest.raises(ValueError, match=r"progression must be in \[0, 1\]"):
        _result(progression=progression)


def test_wrong_types_name_the_field() -> None:
    with pytest.raises(TypeError, match="observation must be an Observation, got str"):
        _result(observation="a room")
    with pytest.raises(TypeError, match="action must be str, got int"):
        _result(action=3)
    with pytest.raises(TypeError, match="info must be a dict"):
        _result(info=[("step", 1)])
    with pytest.raises(TypeError, match="must be str, got bytes and str"):
        Observation(text=b"a room")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="could not convert"):
        _result(reward="lots")


def test_values_are_frozen() -> None:
    result = _result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reward = 2.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.observation.text = "elsewhere"  # type: ignore[misc]
    assert result == _result() and result.observation.render() == "a room\n\ninventory"
