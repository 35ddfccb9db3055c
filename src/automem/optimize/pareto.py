"""A per-instance Pareto pool of candidates, as reflective optimisers (GEPA) keep one.

Every valid candidate's progression is kept per (task, seed) instance. The front holds the
candidates that are best (ties included) on at least one instance; parents are sampled from
it with weight = the number of instances where the candidate is best. So a revision that
helps one MiniHack task survives even if it hurts another.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from automem.optimize.gate import Decision
from automem.optimize.validity import Key, by_instance, check_valid
from automem.runs import EpisodeSummary


class ParetoPool:
    def __init__(self) -> None:
        self._scores: dict[str, dict[Key, float]] = {}  # insertion order = order added

    @property
    def candidates(self) -> list[str]:
        return list(self._scores)

    def scores(self, name: str) -> dict[Key, float]:
        return dict(self._scores[name])

    def add(self, name: str, scores: Mapping[Key, float]) -> None:
        """Keep a candidate's per-instance scores (every candidate on the same instances)."""
        if name in self._scores:
            raise ValueError(f"candidate {name!r} is already in the pool")
        if not scores:
            raise ValueError(f"candidate {name!r}: no instance scores")
        if self._scores:
            instances = set(next(iter(self._scores.values())))
            if set(scores) != instances:
                odd = sorted(set(scores) ^ instances)
                raise ValueError(f"candidate {name!r} was scored on other instances: {odd}")
        self._scores[name] = dict(scores)

    def admit(self, name: str, episodes: Sequence[EpisodeSummary]) -> Decision:
        """Add a candidate from its episodes if valid; accepted when it is strictly best on
        at least one instance (the first candidate is always accepted)."""
        validity = check_valid(episodes)
        if not validity.valid:
            return Decision(False, "pareto", f"child invalid: {'; '.join(validity.reasons)}")
        scores = by_instance(episodes)
        others = list(self._scores.values())
        wins = [k for k, v in scores.items() if all(v > s[k] for s in others if k in s)]
        self.add(name, scores)
        stats = {"instances_best": float(len(wins)), "instances": float(len(scores))}
        if wins or len(self._scores) == 1:
            return Decision(True, "pareto", f"strictly best on {len(wins)} instance(s)", stats)
        return Decision(False, "pareto", "strictly best on no instance", stats)

    def best_counts(self) -> dict[str, int]:
        """For each candidate, on how many instances it is best (ties count for each)."""
        counts = dict.fromkeys(self._scores, 0)
        if not self._scores:
            return counts
        for key in next(iter(self._scores.values())):
            top = max(s[key] for s in self._scores.values())
            for name, s in self._scores.items():
                counts[name] += s[key] == top
        return counts

    def front(self) -> list[str]:
        """Candidates best on at least one instance, in the order they were added."""
        return [name for name, count in self.best_counts().items() if count > 0]

    def sample_parent(self, rng: random.Random) -> str:
        """A front member, with probability proportional to its number of best instances."""
        counts = {n: c for n, c in self.best_counts().items() if c > 0}
        if not counts:
            raise ValueError("the pool is empty: add the seed scaffold's scores first")
        return rng.choices(list(counts), weights=list(counts.values()), k=1)[0]
