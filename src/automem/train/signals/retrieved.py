"""A write later retrieved by a read whose result preceded progression or reward (positive).

A successful write of the turn added lines to a file (:attr:`WriteEffect.added_lines`). It
counts once when a later successful SEARCH, READ or TAIL of the same file (later in the
episode's order: step, LOG before PLAN, turn) showed one of those lines in its result, and
the action of the read's step or of one of the next ``horizon - 1`` steps brought reward or
raised progression.
"""

from __future__ import annotations

import bisect

from automem.train.episode import EpisodeData, Turn, WriteEffect, order
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "retrieved_write"
DEFINITION = definition(__doc__)


def _progress_within(episode: EpisodeData, step: int, horizon: int) -> int | None:
    """The first step in step..step + horizon - 1 whose action progressed, or None."""
    return next((s for s in range(step, step + horizon) if episode.progressed(s)), None)


def _retrieval(
    turn: Turn, episode: EpisodeData, params: SignalParams, position: int, effect: WriteEffect
) -> Hit | None:
    """The first later read of the write's file that showed an added line before progress."""
    lines = [x for x in effect.added_lines if len(x) >= params.min_line_chars]
    reads = episode.reads_of(effect.file)
    for at in reads[bisect.bisect_right(reads, position) :] if lines else []:
        later = episode.commands[at]
        if order(later.step, later.phase, later.turn) <= turn.when:
            continue
        shown = [x for x in lines if x in later.result]
        progress = _progress_within(episode, later.step, params.horizon) if shown else None
        if progress is not None:
            return Hit(
                signal=NAME,
                detail=f"{effect.file}: {short(shown[0], 60)!r} retrieved by "
                f"{later.op} at step {later.step}, progress at step {progress}",
            )
    return None


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        effect = episode.writes.get(position)
        if effect is not None and (hit := _retrieval(turn, episode, params, position, effect)):
            found.append(hit)
    return found
