"""SQL over the traces of many runs at once (DuckDB reads the JSON Lines files in place).

Views: ``records`` (every trace record, with ``run`` and ``episode`` columns), and one per
record type: ``steps``, ``commands``, ``calls``, ``messages``, ``prompts``, ``texts``,
``observations``, ``events``, ``headers``, ``ends``. From trace schema 4 ``messages`` holds
the replies and ``prompts`` the system and user messages as parts of the text table (see
:mod:`automem.traces.texts`; :meth:`automem.traces.Trace.conversation` gives them verbatim).
For example, empty searches per run::

    SELECT run, count(*) FILTER (WHERE matches = 0) / count(*) AS empty_rate
    FROM commands WHERE op = 'SEARCH' AND ok GROUP BY run

(``matches`` is recorded from trace schema version 2 on; version 1 traces leave it null.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

RECORD_VIEWS = {
    "steps": "step",
    "commands": "command",
    "calls": "call",
    "messages": "message",
    "prompts": "prompt",
    "texts": "text",
    "observations": "observation",
    "events": "event",
    "headers": "header",
    "ends": "end",
}


def _duckdb() -> Any:
    """The duckdb module, or a ValueError saying how to install it (the ``analysis`` extra)."""
    try:
        import duckdb
    except ImportError:
        raise ValueError("querying traces needs duckdb: pip install 'automem[analysis]'") from None
    return duckdb


def connect(run_dirs: Sequence[Path]) -> Any:
    """A DuckDB connection with the views above over the runs' finished episodes."""
    duckdb = _duckdb()
    from automem.runs.reader import RunReader  # runs imports traces: import it when used

    files = [str(path) for run in run_dirs for _, path in RunReader(Path(run)).finished()]
    if not files:
        raise ValueError(f"no finished episodes in {', '.join(str(r) for r in run_dirs)}")
    con = duckdb.connect()
    listing = "[" + ", ".join(_quote(f) for f in files) + "]"
    con.execute(
        f"""CREATE VIEW records AS
        SELECT regexp_extract(filename, '^(.*)/episodes/[^/]+/trace.jsonl$', 1) AS run,
               regexp_extract(filename, '/episodes/([^/]+)/trace.jsonl$', 1) AS episode,
               * EXCLUDE (filename)
        FROM read_json({listing}, format = 'newline_delimited', union_by_name = true,
                       filename = true, sample_size = -1, maximum_object_size = 268435456)"""
    )
    for view, kind in RECORD_VIEWS.items():
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM records WHERE type = {_quote(kind)}")
    return con


def query(run_dirs: Sequence[Path], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` over the runs' traces; returns column names and rows.

    A bad query raises ValueError with DuckDB's message (it names the problem and position).
    """
    duckdb = _duckdb()
    con = connect(run_dirs)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"SQL error: {exc}") from None
    finally:
        con.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
