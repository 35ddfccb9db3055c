"""The gate rules on two tiny real Crafter runs, read back from their run directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from automem.optimize import MeanGain, PairedGain, ParetoPool, check_valid, run_episodes
from automem.runs import RunConfig, run


def test_gate_rules_read_real_run_directories(tmp_path: Path) -> None:
    # The scripted model slipping half the time (parent) against one that never slips
    # (child): over 12 steps the child gains one achievement on seed 2, ties on seeds 1 and 3.
    for name, slip in (("parent", "0.5"), ("child", "0.0")):
        config = RunConfig(
            env="crafter", model=f"scripted:slip={slip}", seeds=(1, 2, 3), max_steps=12
        )
        run(config, tmp_path / name)
    parent, child = run_episodes(tmp_path / "parent"), run_episodes(tmp_path / "child")
    assert check_valid(child, expected=[("crafter", s) for s in (1, 2, 3)]).valid
    by_seed = {e.seed: e.progression for e in child}
    assert by_seed[2] > 0 and {e.seed: e.progression for e in parent} == {1: 0.0, 2: 0.0, 3: 0.0}
    mean = MeanGain().decide(parent, child)
    assert mean.accepted and mean.statistics["gain"] == pytest.approx(by_seed[2] / 3)
    # One winning seed in three: the bootstrap's lower bound is 0, so the paired gate refuses.
    paired = PairedGain(resamples=1000).decide(parent, child)
    assert not paired.accepted
    assert paired.statistics["gain"] == pytest.approx(mean.statistics["gain"])
    assert paired.statistics["low"] == 0.0
    pool = ParetoPool()
    pool.admit("parent", parent)
    assert pool.admit("child", child).accepted
    assert pool.best_counts() == {"parent": 2, "child": 3}
