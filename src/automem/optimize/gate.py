"""Acceptance rules of loop 1's gate, as small strategies, and cheap screening before it.

Each rule compares a parent's and a child's episodes on the same (task, seed) instances and
returns a :class:`Decision`. An invalid child (an episode that stopped, failed or hit model
errors) is refused with that reason before any statistic is computed.

- :class:`MeanGain`: the reference method's rule, strictly higher mean progression.
- :class:`PairedGain`: the lower bound of the stratified paired bootstrap interval of the
  gain (:func:`automem.runs.compare.compare_episodes`) above ``min_gain``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from automem.optimize.validity import Key, by_instance, check_valid
from automem.runs import EpisodeSummary, summarise
from automem.runs.compare import compare_episodes


@dataclass(frozen=True)
class Decision:
    accepted: bool
    rule: str
    reason: str
    statistics: dict[str, float] = field(default_factory=dict)


class Acceptance(Protocol):
    def decide(
        self, parent: Sequence[EpisodeSummary], child: Sequence[EpisodeSummary]
    ) -> Decision: ...


def _refusal(
    rule: str, parent: Sequence[EpisodeSummary], child: Sequence[EpisodeSummary]
) -> Decision | None:
    """A refusal when the two sides cannot be compared as they stand, else None."""
    for side, episodes in (("parent", parent), ("child", child)):
        validity = check_valid(episodes)
        if not validity.valid:
            return Decision(False, rule, f"{side} invalid: {'; '.join(validity.reasons)}")
    keys_parent, keys_child = set(by_instance(parent)), set(by_instance(child))
    if not keys_child:
        return Decision(False, rule, "child has no finished episode")
    if keys_parent != keys_child:
        missing = sorted(keys_parent ^ keys_child)
        return Decision(
            False, rule, f"parent and child ran different instances (task, seed): {missing}"
        )
    return None


def mean_progression(episodes: Sequence[EpisodeSummary]) -> float:
    """Progression as the benchmark aggregates it (per task, per game, over games)."""
    overall = summarise(episodes).overall
    if overall is None:
        raise ValueError("no finished episode to average")
    return overall.progression.mean


@dataclass(frozen=True)
class MeanGain:
    """Accept when the child's mean progression is strictly higher than the parent's."""

    name: str = "mean"

    def decide(self, parent: Sequence[EpisodeSummary], child: Sequence[EpisodeSummary]) -> Decision:
        if (refused := _refusal(self.name, parent, child)) is not None:
            return refused
        before, after = mean_progression(parent), mean_progression(child)
        stats = {"parent_mean": before, "child_mean": after, "gain": after - before}
        if after > before:
            return Decision(True, self.name, f"mean {after:.4f} > {before:.4f}", stats)
        return Decision(False, self.name, f"mean {after:.4f} is not above {before:.4f}", stats)


@dataclass(frozen=True)
class PairedGain:
    """Accept when the paired bootstrap's lower bound of the gain exceeds ``min_gain``."""

    min_gain: float = 0.0
    confidence: float = 0.95
    resamples: int = 10_000
    seed: int = 0
    name: str = "paired"

    def decide(self, parent: Sequence[EpisodeSummary], child: Sequence[EpisodeSummary]) -> Decision:
        if (refused := _refusal(self.name, parent, child)) is not None:
            return refused
        result = compare_episodes(
            list(parent),
            list(child),
            names=("parent", "child"),
            confidence=self.confidence,
            resamples=self.resamples,
            seed=self.seed,
        )
        gain = result.overall
        if gain is None:  # _refusal made sure both share instances
            raise ValueError("no paired episodes")
        stats = {"gain": gain.mean, "low": gain.low, "high": gain.high}
        interval = f"gain {gain.percent()} % ({self.confidence:.0%} paired bootstrap)"
        if gain.low > self.min_gain:
            return Decision(
                True, self.name, f"{interval}: lower bound above {self.min_gain:+.4f}", stats
            )
        return Decision(
            False, self.name, f"{interval}: lower bound not above {self.min_gain:+.4f}", stats
        )


def screen(
    parent: Sequence[EpisodeSummary],
    child: Sequence[EpisodeSummary],
    subset: Collection[Key] | None = None,
) -> Decision:
    """Cheap screening: pass when the child is not worse than the parent on ``subset`` (all of
    the child's instances by default); only then is the full gate worth running."""
    if subset is not None:
        wanted = set(subset)
        parent = [e for e in parent if (e.env_id, e.seed) in wanted]
        child = [e for e in child if (e.env_id, e.seed) in wanted]
        if {(e.env_id, e.seed) for e in child} != wanted:
            missing = sorted(wanted - {(e.env_id, e.seed) for e in child})
            return Decision(False, "screen", f"child did not run the subset's {missing}")
    if (refused := _refusal("screen", parent, child)) is not None:
        return refused
    before, after = mean_progression(parent), mean_progression(child)
    stats = {"parent_mean": before, "child_mean": after, "gain": after - before}
    if after >= before:
        reason = f"not worse on the subset: {after:.4f} >= {before:.4f}"
        return Decision(True, "screen", reason, stats)
    return Decision(False, "screen", f"worse on the subset: {after:.4f} < {before:.4f}", stats)


def screening_subset(keys: Collection[Key], size: int, seed: int = 0) -> list[Key]:
    """A deterministic minibatch of ``size`` instances (sorted) for :func:`screen`."""
    import random

    if size < 1:
        raise ValueError("screening subset size must be at least 1")
    ordered = sorted(keys)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))
