"""An unparseable reply (penalty).

A reply in which the project's parser (automem.memory.parse_commands) finds no command at all.
"""

from __future__ import annotations

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "unparseable"
DEFINITION = definition(__doc__)


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    if turn.parsed.commands:
        return []
    return [Hit(signal=NAME, detail=f"no command in {short(turn.reply, 60)!r}")]
