"""Selection, loop 2's data engine: which verbatim turns of the runs become training examples.

For every finished episode of the given runs: episode steering (the top share by progression
per environment), then for each candidate turn (:data:`automem.train.criteria.CANDIDATES`)
the deterministic signals of :mod:`automem.train.signals`, a score and a decision; accepted
turns go through the post-processing rules (a turn they drop is rejected with the rule), then
an optional LLM judge that may reject and writes the reason. Every reviewed turn gets one
:class:`Decision`; the kept examples are the dataset. :mod:`automem.train.dataset` writes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from automem.core import Frozen
from automem.memory.ops import ACTION
from automem.runs.reader import RunReader
from automem.train.criteria import SelectCriteria
from automem.train.episode import EpisodeData, Turn
from automem.train.examples import Example
from automem.train.postprocess import Dropped, postprocess_one
from automem.train.signals import SIGNALS, Hit

Stage = Literal["steering", "signals", "postprocess", "judge", "accepted"]


class SelectError(ValueError):
    """Runs that cannot be selected from; the message names the run and the fix."""


class ScoredHit(Frozen):
    signal: str
    weight: float
    detail: str


class Decision(Frozen):
    """One reviewed turn: where it is, what the signals found, and what was decided."""

    run: str
    episode_id: str
    env_id: str
    step: int
    phase: str
    turn: int
    call_id: str
    decision: Literal["accept", "reject"]
    stage: Stage
    score: float
    signals: tuple[ScoredHit, ...]
    reason: str


class Verdict(Frozen):
    accept: bool
    reason: str


# (the post-processed example, the decision so far) -> the judge's verdict
JudgeFn = Callable[[Example, "Decision", EpisodeData], Verdict]


@dataclass
class Selection:
    """What selection produced: a decision per reviewed turn, the kept examples, the drops."""

    decisions: list[Decision]
    examples: list[Example]
    dropped: list[Dropped]
    edits: dict[int, int]
    episodes: list[tuple[str, EpisodeData, bool]]  # (run, episode, steered in)


def is_candidate(turn: Turn) -> bool:
    """A LOG turn, or a PLAN turn that is not only a commit."""
    if turn.phase == "log":
        return True
    ops = {c.op for c in turn.parsed.commands}
    return turn.phase == "plan" and not (ops and ops <= {ACTION})


def score_turn(
    turn: Turn, episode: EpisodeData, criteria: SelectCriteria
) -> tuple[float, list[ScoredHit]]:
    hits: list[Hit] = []
    for signal in SIGNALS:
        hits.extend(signal.hits(turn, episode, criteria.params))
    scored = [
        ScoredHit(signal=h.signal, weight=criteria.weights[h.signal], detail=h.detail) for h in hits
    ]
    return sum(h.weight for h in scored), scored


def _explain(score: float, hits: Sequence[ScoredHit]) -> str:
    if not hits:
        return f"score {score:g}: a clean memory turn, no signal"
    parts = "; ".join(f"{h.signal} {h.weight:+g} ({h.detail})" for h in hits)
    return f"score {score:g}: {parts}"


def signal_decision(
    score: float, hits: Sequence[ScoredHit], criteria: SelectCriteria
) -> tuple[bool, str]:
    """Whether the signals accept a turn, and the deterministic reason."""
    vetoed = [h for h in hits if h.signal in criteria.veto]
    if vetoed:
        return False, f"vetoed by {vetoed[0].signal}; {_explain(score, hits)}"
    if score < criteria.min_score:
        return False, f"below the minimum score {criteria.min_score:g}; {_explain(score, hits)}"
    return True, _explain(score, hits)


# --------------------------------------------------------------------------- episodes


def load_episodes(runs: Sequence[Path]) -> list[tuple[str, EpisodeData]]:
    """The finished episodes of every run, in run then folder order."""
    found = []
    for root in runs:
        reader = RunReader(root, write_index=False)  # selection only reads a run
        try:
            reader.meta()  # a folder that is no run directory fails here, saying so
            finished = reader.finished()
        except ValueError as exc:
            raise SelectError(f"cannot read run {root}: {exc}") from None
        if not finished:
            raise SelectError(f"run {root} has no finished episode to select from")
        for summary, _ in finished:
            data = EpisodeData.read(reader.trace(summary.episode_id), summary.progression)
            found.append((str(root), data))
    return found


def steer(
    episodes: Sequence[tuple[str, EpisodeData]], criteria: SelectCriteria
) -> dict[int, str | None]:
    """Position -> None when the episode is kept, else why it is left out."""
    by_env: dict[str, list[int]] = {}
    for i, (_, episode) in enumerate(episodes):
        by_env.setdefault(episode.env_id, []).append(i)
    out: dict[int, str | None] = {}
    for env, members in by_env.items():
        ranked = sorted(
            members, key=lambda i: (-episodes[i][1].progression, episodes[i][1].episode_id)
        )
        # Rounded up, but 0.28 x 25 is 7, not the 8 its binary float would round up to.
        keep = max(1, math.ceil(round(criteria.top_share * len(ranked), 9)))
        for rank, i in enumerate(ranked, 1):
            progression = episodes[i][1].progression
            if rank > keep:
                out[i] = (
                    f"episode steering: progression {progression:.3f} ranks {rank} of "
                    f"{len(ranked)} in {env}; the top share {criteria.top_share:g} keeps {keep}"
                )
            elif progression < criteria.min_progression:
                out[i] = (
                    f"episode steering: progression {progression:.3f} is below the minimum "
                    f"{criteria.min_progression:g}"
                )
            else:
                out[i] = None
    return out


# --------------------------------------------------------------------------- selection


def _decision(
    run: str, episode: EpisodeData, turn: Turn, score: float, hits: Sequence[ScoredHit]
) -> Decision:
    return Decision(
        run=run,
        episode_id=episode.episode_id,
        env_id=episode.env_id,
        step=turn.step,
        phase=turn.phase,
        turn=turn.turn,
        call_id=turn.call_id,
        decision="reject",
        stage="signals",
        score=score,
        signals=tuple(hits),
        reason="",
    )


def review_episode(
    run: str,
    episode: EpisodeData,
    criteria: SelectCriteria,
    steered_out: str | None,
    judge: JudgeFn | None,
    sink: Selection,
) -> None:
    """Decide every candidate turn of one episode into ``sink``."""
    for turn in episode.turns():
        if not is_candidate(turn):
            continue
        score, hits = score_turn(turn, episode, criteria)
        base = _decision(run, episode, turn, score, hits)
        if steered_out is not None:
            update = {"stage": "steering", "reason": steered_out}
            sink.decisions.append(base.model_copy(update=update))
            continue
        accepted, reason = signal_decision(score, hits, criteria)
        decides = judge is not None and criteria.judge_mode == "decide"
        if not accepted and not decides:
            sink.decisions.append(base.model_copy(update={"reason": reason}))
            continue
        result, changed = postprocess_one(episode.example(turn))
        if isinstance(result, Dropped):
            sink.dropped.append(result)
            update = {"stage": "postprocess", "reason": f"{result.reason}; signals: {reason}"}
            sink.decisions.append(base.model_copy(update=update))
            continue
        if judge is not None:
            verdict = judge(result, base.model_copy(update={"reason": reason}), episode)
            if not verdict.accept:
                update = {"stage": "judge", "reason": f"judge: {verdict.reason}"}
                sink.decisions.append(base.model_copy(update=update))
                continue
            reason = f"judge: {verdict.reason}; signals: {reason}"
        for rule in changed:
            sink.edits[rule] = sink.edits.get(rule, 0) + 1
        sink.examples.append(result)
        update = {"decision": "accept", "stage": "accepted", "reason": reason}
        sink.decisions.append(base.model_copy(update=update))


def select(
    runs: Sequence[Path], criteria: SelectCriteria, judge: JudgeFn | None = None
) -> Selection:
    """Review every candidate turn of the runs' finished episodes."""
    if not runs:
        raise SelectError("give at least one run directory to select from")
    if criteria.judge is not None and judge is None:
        raise SelectError(f"the criteria name judge {criteria.judge!r} but no judge was given")
    episodes = load_episodes(runs)
    steering = steer(episodes, criteria)
    sink = Selection(decisions=[], examples=[], dropped=[], edits={}, episodes=[])
    for i, (run, episode) in enumerate(episodes):
        sink.episodes.append((run, episode, steering[i] is None))
        review_episode(run, episode, criteria, steering[i], judge, sink)
    sink.edits = {k: sink.edits[k] for k in sorted(sink.edits)}
    return sink
