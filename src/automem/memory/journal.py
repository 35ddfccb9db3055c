"""The journal: one record per executed memory command, enough to replay every file."""

from __future__ import annotations

from automem.core import Frozen


class JournalRecord(Frozen):
    """One executed command. Statistics read its structured fields, never its ``result`` text."""

    step: int
    phase: str
    op: str
    args: tuple[str, ...]
    ok: bool
    result: str  # exactly what the model is shown; refusals are one line starting "ERROR: "
    # None fields are left out of trace lines (read straight into journal records): defaults.
    file: str | None = None  # the file addressed, when its name was valid
    size_before: int | None = None  # bytes; set only for mutating ops that succeeded
    size_after: int | None = None
    matches: int | None = None  # lines matching the keyword; set only for SEARCH/COUNT that ran

    @property
    def bytes_changed(self) -> int:
        if self.size_before is None or self.size_after is None:
            return 0
        return self.size_after - self.size_before
