"""Episode traces: the versioned record schema, writing and reading."""

from automem.traces.io import Trace, TraceError, TraceWriter, iter_records
from automem.traces.schema import (
    TRACE_SCHEMA_VERSION,
    CallRecord,
    CommandRecord,
    EndRecord,
    EpisodeTotals,
    EventRecord,
    Header,
    MessageRecord,
    ObservationRecord,
    PromptRecord,
    StepRecord,
    TextRecord,
)

__all__ = [
    "TRACE_SCHEMA_VERSION",
    "CallRecord",
    "CommandRecord",
    "EndRecord",
    "EpisodeTotals",
    "EventRecord",
    "Header",
    "MessageRecord",
    "ObservationRecord",
    "PromptRecord",
    "StepRecord",
    "TextRecord",
    "Trace",
    "TraceError",
    "TraceWriter",
    "iter_records",
]
