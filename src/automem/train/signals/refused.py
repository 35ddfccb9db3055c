"""A refused command (penalty).

A command of the turn the loop or the memory store refused (its record has ``ok`` false): an
unknown command, one not allowed in the phase, a bad argument, a missing file, an ACTION
written before the results it needed or rejected by a helper.
"""

from __future__ import annotations

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "refused_command"
DEFINITION = definition(__doc__)


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        record = episode.commands[position]
        if not record.ok:
            found.append(Hit(signal=NAME, detail=f"{record.op}: {short(record.result, 70)}"))
    return found
