"""Strict application of a unified diff to a text: every hunk applies exactly where it says.

A reviewer may propose a revision as a patch of its parent's normalised YAML
(:func:`automem.scaffold.dump`). No fuzz and no offsets: a hunk whose context or removed
lines are not at the stated place is refused with the hunk and line named, so the reviewer
can correct it.
"""

from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    """A patch that is malformed or does not apply; the message names the hunk and line."""


def looks_like_patch(text: str) -> bool:
    """Whether a proposal is a unified diff (starts with '--- ' or '@@') rather than YAML."""
    first = text.lstrip().split("\n", 1)[0]
    return first.startswith("--- ") or first.startswith("@@ ")


def apply_patch(original: str, patch: str) -> str:
    """``original`` with the unified diff ``patch`` applied strictly (see the module)."""
    lines = original.splitlines()
    out: list[str] = []
    cursor = 0  # next unconsumed line of the original (0-based)
    hunks = 0
    body = patch.splitlines()
    i = 0
    while i < len(body):
        line = body[i]
        if not line or (hunks == 0 and line.startswith(("--- ", "+++ ", "diff ", "index "))):
            i += 1
            continue
        match = _HUNK.match(line)
        if match is None:
            raise PatchError(f"patch line {i + 1}: expected a hunk header '@@ -a,b +c,d @@'")
        hunks += 1
        start, count = int(match[1]), int(match[2] if match[2] is not None else 1)
        at = start - 1 if count else start  # '-n,0' inserts after line n
        if at < cursor:
            raise PatchError(f"hunk {hunks}: starts at line {start}, before the previous hunk ends")
        out.extend(lines[cursor:at])
        cursor = at
        i += 1
        new_count = int(match[4] if match[4] is not None else 1)
        old_seen = new_seen = 0
        while old_seen < count or new_seen < new_count:
            if i >= len(body) or body[i].startswith("@@"):
                raise PatchError(
                    f"hunk {hunks}: its header says {count} parent and {new_count} new lines, "
                    f"the hunk has {old_seen} and {new_seen}"
                )
            tag, text = body[i][:1], body[i][1:]
            if tag in (" ", "-"):
                if cursor >= len(lines) or lines[cursor] != text:
                    found = repr(lines[cursor]) if cursor < len(lines) else "the end of the file"
                    raise PatchError(
                        f"hunk {hunks} does not apply: line {cursor + 1} of the parent is "
                        f"{found}, the patch expects {text!r}"
                    )
                cursor += 1
                old_seen += 1
            if tag in (" ", "+"):
                out.append(text)
                new_seen += 1
            if tag not in (" ", "-", "+"):
                raise PatchError(
                    f"hunk {hunks}: line {body[i]!r} starts with neither ' ', '-' nor '+'"
                )
            i += 1
        if i < len(body) and body[i] == "\\ No newline at end of file":
            i += 1
    if hunks == 0:
        raise PatchError("the patch has no hunk ('@@ -a,b +c,d @@')")
    out.extend(lines[cursor:])
    return "\n".join(out) + "\n"
