"""Strict patch application: exact places, clear refusals."""

from __future__ import annotations

import difflib
import re

import pytest

from automem.optimize import PatchError, apply_patch

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))


def diff(a: str, b: str, n: int = 3) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "a", "b", n=n))


@pytest.mark.parametrize("n", [0, 1, 3])
def test_difflib_patches_round_trip(n: int) -> None:
    changed = ORIGINAL.replace("line 2\n", "line two\n").replace("line 15\n", "")
    changed = changed.replace("line 20\n", "line 20\nline 21\n")
    changed = "line 0\n" + changed
    assert apply_patch(ORIGINAL, diff(ORIGINAL, changed, n)) == changed


def test_refusals_name_the_hunk() -> None:
    patch = diff(ORIGINAL, ORIGINAL.replace("line 15\n", "fifteen\n"))
    with pytest.raises(PatchError, match=r"^hunk 1 does not apply: line 12 of the parent is "):
        apply_patch(ORIGINAL.replace("line 12\n", "twelve\n"), patch)
    short = patch.replace("@@ -12,7 +12,7 @@", "@@ -12,9 +12,9 @@")
    with pytest.raises(PatchError, match="header says 9 parent and 9 new lines, the hunk has 7"):
        apply_patch(ORIGINAL, short)
    with pytest.raises(PatchError, match="no hunk"):
        apply_patch(ORIGINAL, "--- a\n+++ b\n")
    with pytest.raises(PatchError, match=re.escape("neither ' ', '-' nor '+'")):
        apply_patch(ORIGINAL, patch.replace(" line 13\n", "*line 13\n"))
