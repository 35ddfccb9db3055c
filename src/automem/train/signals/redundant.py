"""A redundant write (penalty).

A successful APPEND of a line the file already held, or a WRITE or UPSERT_MAP that left the
file exactly as it was (the definition of the behaviour statistics, automem.traces.stats).
"""

from __future__ import annotations

from automem.memory.edits import one_line
from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "redundant_write"
DEFINITION = definition(__doc__)


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        effect = episode.writes.get(position)
        record = episode.commands[position]
        if effect is None or record.op == "CREATE":
            continue
        if record.op == "APPEND":
            redundant = one_line(record.args[1]) in effect.before.split("\n")
        else:
            redundant = effect.after == effect.before
        if redundant:
            what = short("|".join(record.args), 60)
            found.append(Hit(signal=NAME, detail=f"{record.op} {what!r} changed nothing new"))
    return found
