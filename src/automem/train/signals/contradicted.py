"""A write the observation contradicts (penalty).

The observation of the write's step (what the agent saw while it logged: the observation
text and its short-term part) lists quantities as lines ``name: N`` or ``name: N/MAX``, with
an optional leading ``-`` (Crafter's vitals and inventory, say ``- wood: 2``). A line the
write added contradicts it when it states another number for one of those names, written
``name: M``, ``name = M`` or ``name M/MAX`` (names compared case-insensitively, as whole
words). A write that dates its number to an earlier step still counts: the rule reads the
numbers, not the tense.
"""

from __future__ import annotations

import re

from automem.train.episode import EpisodeData, Turn
from automem.train.signals.base import Hit, SignalParams, definition, short

NAME = "contradicted_write"
DEFINITION = definition(__doc__)
_FACT = re.compile(r"^\s*(?:-\s*)?([A-Za-z][A-Za-z _]{0,40}?)\s*:\s*(\d+)(?:\s*/\s*\d+)?\s*$")


def facts(observation: str) -> dict[str, int]:
    """The quantities an observation lists, by lower-case name."""
    found = {}
    for line in observation.split("\n"):
        if match := _FACT.match(line):
            found[" ".join(match.group(1).lower().split())] = int(match.group(2))
    return found


def claims(line: str, name: str) -> list[int]:
    """The numbers ``line`` states for quantity ``name``."""
    word = r"\s+".join(map(re.escape, name.split()))
    pattern = rf"(?<![A-Za-z0-9_]){word}(?:\s*[:=]\s*(\d+)|\s+(\d+)\s*/\s*\d+)(?!\d)"
    return [int(a or b) for a, b in re.findall(pattern, line, re.IGNORECASE)]


def hits(turn: Turn, episode: EpisodeData, params: SignalParams) -> list[Hit]:
    found = []
    for position in turn.commands:
        effect = episode.writes.get(position)
        if effect is None:
            continue
        seen = facts(episode.observation_text(episode.commands[position].step))
        for line in effect.added_lines:
            wrong = [
                (name, n, stated)
                for name, n in seen.items()
                for stated in claims(line, name)
                if stated != n
            ]
            if wrong:
                name, n, stated = wrong[0]
                found.append(
                    Hit(
                        signal=NAME,
                        detail=f"{effect.file}: {short(line, 50)!r} says {name} {stated}, "
                        f"the observation {n}",
                    )
                )
    return found
