"""SEARCH and COUNT at the cost of what was appended since the last query, not of the file.

Memory files mostly grow by appends, and models ask the same few keywords again and again. For
each keyword recently asked of a file, the index keeps a tally of the complete lines scanned so
far (how many contain the keyword, and the last few that do); a repeated query scans only the
lines added since. An append keeps the tallies (the old content is a prefix of the new); the
store reports any other change, which drops the file's tallies.

Results are exactly those of :func:`automem.memory.views.count_matching` and
:func:`~automem.memory.views.last_matching` on the whole content.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from automem.memory.text import split_lines

# Tallies kept per file: a model searching a new word every step must not grow memory forever.
KEYWORDS_PER_FILE = 16


@dataclass
class _Tally:
    """Matches of one folded keyword among the complete lines of ``content[:scanned]``."""

    last_n: int
    scanned: int = 0
    total: int = 0
    last: deque[str] = field(init=False)

    def __post_init__(self) -> None:
        self.last = deque(maxlen=self.last_n)

    def add(self, lines: str, wanted: str) -> None:
        for line in split_lines(lines):
            if wanted in line.casefold():
                self.total += 1
                self.last.append(line)


class MatchIndex:
    """Per file and keyword, the lines containing it (case-insensitively), kept up to date."""

    def __init__(self, last_n: int) -> None:
        if last_n < 1:
            raise ValueError(f"last_n must be at least 1, got {last_n}")
        self.last_n = last_n
        self._files: dict[str, OrderedDict[str, _Tally]] = {}

    def lookup(self, name: str, content: str, keyword: str) -> tuple[int, list[str]]:
        """How many lines of ``content`` contain ``keyword``, and the last ``last_n`` of them.

        ``content`` is the file's current content; every change since the last lookup that was
        not an append must have been reported to :meth:`rewritten`.
        """
        wanted = keyword.casefold()
        if "\n" in wanted:
            return 0, []  # no single line can contain a line break
        tallies = self._files.setdefault(name, OrderedDict())
        tally = tallies.pop(wanted, None) or _Tally(self.last_n)
        tallies[wanted] = tally  # most recently used last
        if len(tallies) > KEYWORDS_PER_FILE:
            tallies.popitem(last=False)
        complete = content.rfind("\n") + 1  # the tally covers whole lines only
        if complete > tally.scanned:
            tally.add(content[tally.scanned : complete], wanted)
            tally.scanned = complete
        total, shown = tally.total, list(tally.last)
        partial = content[complete:]  # a last line without its line break (initial files)
        if partial and wanted in partial.casefold():
            total += 1
            shown = [*shown, partial][-self.last_n :]
        return total, shown

    def rewritten(self, name: str) -> None:
        """``name`` changed in any other way (or was created): its tallies are dropped."""
        self._files.pop(name, None)
