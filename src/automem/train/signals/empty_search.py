"""An empty search (penalty).

A successful SEARCH or COUNT that matched no line (its ``matches`` count is 0; for schema v1
traces, which have no count, a SEARCH by its wording "0 matches").
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
        if record.op not in ("SEARCH", "COUNT") or not record.ok:
            continue
        if record.matches is None:
            empty = episode.header.schema_version == 1 and record.result.startswith("0 matches")
        else:
            empty = record.matches == 0
        if empty:
            what = short("|".join(record.args), 60)
            found.append(Hit(signal=NAME, detail=f"{record.op} {what!r}"))
    return found
