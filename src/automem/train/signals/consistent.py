"""A non-empty search the committed action is consistent with (positive).

A successful SEARCH of the turn that matched at least one line counts once when the step's
action was committed by the model (no fallback), was valid, and is *consistent* with it: one
of the action's content words is a whole word of the search's keyword or result. An action's
content words are its words of three or more letters, lower-cased, without its first word
when it has several (the verb: 'Place Table' -> table, 'Make Wood Pickaxe' -> wood, pickaxe,
'Move West' -> west; 'north' -> north).
"""

from __future__ import annotations

import re

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "consistent_search"
DEFINITION = definition(__doc__)
_WORD = re.compile(r"[a-z0-9]+")


def content_words(action: str) -> set[str]:
    words = _WORD.findall(action.lower().replace("_", " "))
    if len(words) > 1:
        words = words[1:]
    return {w for w in words if len(w) >= 3 and not w.isdigit()}


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    step = episode.steps.get(turn.step)
    if step is None or step.fallback is not None or step.proposed is None or not step.valid:
        return []
    wanted = content_words(step.action)
    found = []
    for position in turn.commands:
        record = episode.commands[position]
        if record.op != "SEARCH" or not record.ok or not record.matches:
            continue
        seen = set(_WORD.findall(" ".join([*record.args[1:], record.result]).lower()))
        if common := sorted(wanted & seen):
            found.append(
                Hit(
                    signal=NAME,
                    detail=f"SEARCH {short('|'.join(record.args), 40)!r} "
                    f"({record.matches} matches) then {step.action!r} (shares {common[0]!r})",
                )
            )
    return found
