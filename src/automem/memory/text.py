"""Line helpers shared by the pure edit and view functions (one line model for everything).

A file's lines are its content split on "\\n", without the empty piece after a final newline.
"""

from __future__ import annotations

from functools import lru_cache


def split_lines(content: str) -> list[str]:
    if not content:
        return []
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


# Views re-read the same few file versions many times per step; content strings cache their
# hash, so these lookups cost O(1) after the first call on a version.
@lru_cache(maxsize=32)
def cached_lines(content: str) -> tuple[str, ...]:
    return tuple(split_lines(content))


@lru_cache(maxsize=32)
def cached_folded(content: str) -> str:
    return content.casefold()


@lru_cache(maxsize=32)
def cached_folded_lines(content: str) -> tuple[str, ...]:
    """Case-folded lines, aligned with ``cached_lines`` (casefold never adds a line break)."""
    return tuple(split_lines(cached_folded(content)))


def count_lines(content: str) -> int:
    if not content:
        return 0
    return content.count("\n") + (0 if content.endswith("\n") else 1)


def byte_size(content: str) -> int:
    return len(content.encode("utf-8"))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def encodable(text: str) -> str:
    """``text`` with what UTF-8 cannot store (lone surrogates) replaced, so writes never fail."""
    return without_surrogates(text)[0]


def without_surrogates(text: str) -> tuple[str, int]:
    """``text`` with each lone surrogate (from a JSON ``\\udcff`` escape, say) replaced by U+FFFD,
    and how many were replaced; a split surrogate pair is joined back into its character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed, fixed.count("\ufffd") - text.count("\ufffd")
    return text, 0


def cut(result: str, limit: int, *, one_line: bool = False) -> str:
    """``result`` cut to ``limit`` characters with an explicit marker, never silently."""
    if len(result) <= limit:
        return result
    marker = f"[... {len(result) - limit} more characters cut]"
    sep = " " if one_line else "\n"
    return f"{result[:limit]}{sep}{marker}"
