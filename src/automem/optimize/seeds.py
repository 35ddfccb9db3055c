"""Disjoint gate and report seeds, so the numbers reported are not the ones the gate chose on."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedSplit:
    gate: tuple[int, ...]
    report: tuple[int, ...]


def split_seeds(
    seeds: Sequence[int],
    gate_fraction: float = 0.5,
    *,
    gate: Sequence[int] | None = None,
    shuffle_seed: int = 0,
) -> SeedSplit:
    """Split ``seeds`` into disjoint gate and report sets (each sorted, each non-empty).

    With ``gate``, those seeds gate and the rest report; otherwise a ``shuffle_seed``-seeded
    shuffle puts ``round(gate_fraction * n)`` seeds (at least one, at most n - 1) in the gate.
    """
    pool = list(dict.fromkeys(seeds))
    if len(pool) != len(seeds):
        raise ValueError("seeds: a seed is listed twice")
    if len(pool) < 2:
        raise ValueError("seeds: need at least 2 seeds to keep gate and report seeds disjoint")
    if gate is not None:
        unknown = sorted(set(gate) - set(pool))
        if unknown:
            raise ValueError(f"gate seeds {unknown} are not among the seeds {sorted(pool)}")
        chosen = set(gate)
        if not chosen or chosen == set(pool):
            raise ValueError("gate seeds: choose at least one and leave at least one to report")
    else:
        if not 0 < gate_fraction < 1:
            raise ValueError(f"gate_fraction must be between 0 and 1, got {gate_fraction}")
        count = min(len(pool) - 1, max(1, round(gate_fraction * len(pool))))
        shuffled = sorted(pool)
        random.Random(shuffle_seed).shuffle(shuffled)
        chosen = set(shuffled[:count])
    return SeedSplit(
        gate=tuple(sorted(chosen)), report=tuple(sorted(s for s in pool if s not in chosen))
    )
