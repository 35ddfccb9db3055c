"""Pure read results: what READ, TAIL, SEARCH and COUNT show the model for given content."""

from __future__ import annotations

import json
from itertools import repeat

from automem.memory.text import (
    cached_folded,
    cached_folded_lines,
    cached_lines,
    count_lines,
    plural,
)

_HOP_LIMIT = 32


def empty_marker(name: str) -> str:
    return f"[{name} is empty]"


def read_view(name: str, content: str) -> str:
    # An explicit marker rather than "": a blank result looks like a failed command to a model.
    if not content.strip():
        return empty_marker(name)
    return content[:-1] if content.endswith("\n") else content


def tail_view(name: str, content: str, n: int, cap: int) -> str:
    total = count_lines(content)
    if not total:
        return empty_marker(name)
    k = min(n, cap, total)
    # Walk back k line breaks with rfind rather than splitting a 64 KB file for a few lines.
    body = content[:-1] if content.endswith("\n") else content
    start = len(body)
    for _ in range(k):
        start = body.rfind("\n", 0, start)
        if start < 0:
            break
    note = f" (TAIL shows at most {cap})" if n > cap else ""
    header = f"last {k} of {plural(total, 'line')} of {name}{note}:"
    return f"{header}\n{body[start + 1 :]}"


def quote(keyword: str) -> str:
    # JSON quoting keeps the header on one line whatever the keyword holds.
    return json.dumps(keyword, ensure_ascii=False)


def count_matching(content: str, keyword: str) -> int:
    """How many lines contain ``keyword``, case-insensitively."""
    wanted = keyword.casefold()
    if "\n" in wanted:
        return 0  # no single line can contain a line break
    if not wanted:
        return len(cached_lines(content))
    # Hop from hit to hit (one C-speed scan, one step per matching line); past a few dozen
    # matching lines, count line by line instead, with the loop kept in C by map().
    folded = cached_folded(content)
    lines = 0
    pos = 0
    while (hit := folded.find(wanted, pos)) >= 0:
        lines += 1
        if lines > _HOP_LIMIT:
            return sum(map(str.__contains__, cached_folded_lines(content), repeat(wanted)))
        stop = folded.find("\n", hit)
        if stop < 0:
            break
        pos = stop + 1
    return lines


def last_matching(content: str, keyword: str, n: int) -> list[str]:
    """The last ``n`` lines containing ``keyword``, case-insensitively, in file order."""
    wanted = keyword.casefold()
    if "\n" in wanted or n <= 0:
        return []
    folded = cached_folded(content)
    if not wanted or len(folded) != len(content):
        # Rare: casefold changed the length ("ß" -> "ss"), so offsets do not align; go by line.
        pairs = zip(cached_lines(content), cached_folded_lines(content), strict=True)
        return [line for line, low in pairs if wanted in low][-n:]
    # Walk back from the end hit by hit: the cost is O(n), not O(lines).
    out: list[str] = []
    end = len(folded)
    while len(out) < n and (hit := folded.rfind(wanted, 0, end)) >= 0:
        start = folded.rfind("\n", 0, hit) + 1
        stop = folded.find("\n", hit)
        out.append(content[start : stop if stop >= 0 else len(content)])
        end = start
    out.reverse()
    return out


def _matches(n: int) -> str:
    return "1 match" if n == 1 else f"{n} matches"


def count_view(name: str, content: str, keyword: str, total: int | None = None) -> str:
    """``total``: the count if the caller has it already (the store records it)."""
    if total is None:
        total = count_matching(content, keyword)
    return f"{_matches(total)} in {name} for {quote(keyword)}"


def search_view(
    name: str, content: str, keyword: str, last_n: int, total: int | None = None
) -> str:
    if total is None:
        total = count_matching(content, keyword)
    shown = last_matching(content, keyword, last_n) if total else []
    return search_result(name, keyword, total, shown)


def search_result(name: str, keyword: str, total: int, shown: list[str]) -> str:
    """SEARCH's text from the match count and the last matching lines to show."""
    header = f"{_matches(total)} in {name} for {quote(keyword)}"
    if not total:
        # An explicit zero line: empty searches are a statistic worth seeing (and measuring).
        return header
    return "\n".join([f"{header} (showing last {len(shown)}):", *shown])
