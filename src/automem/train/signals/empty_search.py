"""An empty search (penalty).

A successful SEARCH that matched no line (its ``matches`` count is 0; schema v1 traces, which
have no count, by their wording "0 matches").
"""

from __future__ import annotations

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "empty_search"
DEFINITION = definition(__doc__)


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        record = episode.commands[position]
        if record.op != "SEARCH" or not record.ok:
            continue
        if record.matches is None:
            empty = episode.header.schema_version == 1 and record.result.startswith("0 matches")
        else:
            empty = record.matches == 0
        if empty:
            found.append(Hit(signal=NAME, detail=f"SEARCH {short('|'.join(record.args), 60)!r}"))
    return found
