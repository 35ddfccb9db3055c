"""A repeated read (penalty).

A successful SEARCH, READ, TAIL or COUNT with the same command and arguments as an earlier one
of the same step and phase (so its result is already in the conversation), with no successful
write to that file in between.
"""

from __future__ import annotations

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "repeated_read"
DEFINITION = definition(__doc__)
READS = frozenset({"SEARCH", "READ", "TAIL", "COUNT"})


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        record = episode.commands[position]
        if record.op not in READS or not record.ok:
            continue
        name = episode.file_of(record)
        for earlier in reversed(episode.commands[:position]):
            if earlier.step != record.step or (earlier.turn >= 0 and earlier.phase != record.phase):
                break  # another step or phase: another conversation
            if earlier.op not in READS and earlier.ok and episode.file_of(earlier) == name:
                break  # the file may have changed since: a fresh read is not a repeat
            if earlier.ok and (earlier.op, earlier.args) == (record.op, record.args):
                what = short("|".join(record.args), 60)
                found.append(Hit(signal=NAME, detail=f"{record.op} {what!r} again"))
                break
    return found
