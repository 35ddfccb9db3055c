"""A read of an empty file (penalty).

A successful READ or TAIL of a file that held nothing but whitespace when it ran (its content
replayed from the trace's journal): the model asked for what its own file list told it was
empty.
"""

from __future__ import annotations

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "empty_read"
DEFINITION = definition(__doc__)


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        if episode.read_sizes.get(position) == 0:
            record = episode.commands[position]
            found.append(
                Hit(signal=NAME, detail=f"{record.op} {short('|'.join(record.args), 60)!r}")
            )
    return found
