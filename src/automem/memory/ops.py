"""The memory command vocabulary: op names, how many arguments each takes, which ops do what."""

from __future__ import annotations

from enum import StrEnum


class Op(StrEnum):
    SEARCH = "SEARCH"
    READ = "READ"
    TAIL = "TAIL"
    COUNT = "COUNT"
    APPEND = "APPEND"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DONE = "DONE"
    ACTION = "ACTION"
    UPSERT_MAP = "UPSERT_MAP"


# Plain-str aliases for hot paths: ``Op.X`` goes through the enum descriptor, which is slow.
SEARCH, READ, TAIL, COUNT, APPEND, WRITE, CREATE, DONE, ACTION, UPSERT_MAP = (op.value for op in Op)

# Plain str members (not Op) so the sets compare and print like the op names the parser emits.
READ_OPS: frozenset[str] = frozenset(
    {Op.SEARCH.value, Op.READ.value, Op.TAIL.value, Op.COUNT.value}
)
WRITE_OPS: frozenset[str] = frozenset(
    {Op.APPEND.value, Op.WRITE.value, Op.CREATE.value, Op.UPSERT_MAP.value}
)
MEMORY_OPS: frozenset[str] = READ_OPS | WRITE_OPS
# The writes that add content (CREATE makes an empty file): what LOG's collection floor counts.
CONTENT_WRITE_OPS: frozenset[str] = WRITE_OPS - {Op.CREATE.value}
AGENT_OPS: frozenset[str] = frozenset({Op.DONE.value, Op.ACTION.value})
KNOWN_OPS: frozenset[str] = MEMORY_OPS | AGENT_OPS

# Number of '|'-separated arguments; the last one takes the rest, so text may contain '|'.
ARITY: dict[str, int] = {
    Op.SEARCH: 2,
    Op.READ: 1,
    Op.TAIL: 2,
    Op.COUNT: 2,
    Op.APPEND: 2,
    Op.WRITE: 2,
    Op.CREATE: 1,
    Op.DONE: 0,
    Op.ACTION: 1,
    Op.UPSERT_MAP: 2,
}

# How each op is written, for error messages that teach the model the right form.
USAGE: dict[str, str] = {
    Op.SEARCH: "SEARCH file|keyword",
    Op.READ: "READ file",
    Op.TAIL: "TAIL file|N",
    Op.COUNT: "COUNT file|keyword",
    Op.APPEND: "APPEND file|text",
    Op.WRITE: "WRITE file|text",
    Op.CREATE: "CREATE file",
    Op.DONE: "DONE",
    Op.ACTION: "ACTION action",
    Op.UPSERT_MAP: "UPSERT_MAP key|text",
}


def tag_usage(op: str) -> str:
    """How ``op`` is written in a reply, e.g. ``<|SEARCH|>file|keyword<|END|>``."""
    _, _, args = USAGE[op].partition(" ")
    return f"<|{op}|>{args}<|END|>" if args else f"<|{op}|>"


def in_op_order(ops: frozenset[str] | set[str]) -> list[str]:
    """``ops`` in the vocabulary's order, so listings read the same every time."""
    return [op.value for op in Op if op.value in ops]
