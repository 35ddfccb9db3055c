"""Replay a journal to the exact file contents at any step, through the store's own edits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from automem.memory.edits import apply_mutation
from automem.memory.journal import JournalRecord
from automem.memory.limits import MemoryLimits
from automem.memory.ops import UPSERT_MAP, WRITE_OPS


def rebuild(
    journal: Iterable[JournalRecord],
    initial_files: Mapping[str, str],
    *,
    step: int | None = None,
    limits: MemoryLimits = MemoryLimits(),  # noqa: B008 - frozen, so sharing is safe
) -> dict[str, str]:
    """File contents after every record with ``record.step <= step`` (all when step is None)."""
    files = dict(initial_files)
    for record in journal:
        if (step is not None and record.step > step) or not record.ok:
            continue
        if record.op not in WRITE_OPS:
            continue
        name = written_file(record, limits)
        files[name] = apply_mutation(record.op, record.args, files.get(name, ""))
    return dict(sorted(files.items()))


def written_file(record: JournalRecord, limits: MemoryLimits) -> str:
    """The file a successful write record changed."""
    # Records name their file; the map file is the fallback only for hand-made UPSERT records.
    default = limits.map_file if record.op == UPSERT_MAP else record.args[0]
    return record.file or default
