"""SQL over traces of several runs (DuckDB reading the JSON Lines files in place)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automem.cli import app
from automem.runs import RunConfig, run
from automem.traces import Trace
from automem.traces.query import query


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("query")
    for name, seeds in (("a", (1, 2)), ("b", (3,))):
        run(RunConfig(env="crafter", model="scripted", seeds=seeds, max_steps=12), root / name)
    return [root / "a", root / "b"]


def test_counts_agree_with_the_traces(two_runs: list[Path]) -> None:
    columns, rows = query(two_runs, "SELECT episode, count(*) FROM steps GROUP BY 1 ORDER BY 1")
    assert columns[0] == "episode"
    assert rows == [("crafter__seed1", 12), ("crafter__seed2", 12), ("crafter__seed3", 12)]
    _, appends = query(
        two_runs, "SELECT count(*) FROM commands WHERE op = 'APPEND' AND ok AND episode LIKE '%1'"
    )
    trace = Trace.read(two_runs[0] / "episodes" / "crafter__seed1" / "trace.jsonl")
    assert appends[0][0] == sum(1 for c in trace.commands if c.op == "APPEND" and c.ok)
    _, runs = query(two_runs, "SELECT DISTINCT run FROM headers ORDER BY 1")
    assert [Path(r[0]).name for r in runs] == ["a", "b"]
    # Prompts are parts of the text table; every text id a prompt names is in a text record.
    sql = "SELECT sum(len(texts)), max(first + len(texts)) FROM texts WHERE episode LIKE '%1'"
    _, texts = query(two_runs[:1], sql)
    _, prompts = query(two_runs[:1], "SELECT count(*) FROM prompts WHERE episode LIKE '%1'")
    assert texts[0][0] == texts[0][1] > 0
    assert prompts[0][0] == sum(1 for m in trace.messages.values() if m.role != "assistant")


def test_a_bad_query_names_the_problem(two_runs: list[Path]) -> None:
    with pytest.raises(ValueError, match=r"SQL error: .*nonexistent"):
        query(two_runs, "SELECT nonexistent FROM steps")
    result = CliRunner().invoke(app, ["query", "SELECT FROM WHERE", str(two_runs[0])])
    assert result.exit_code == 2 and "SQL error" in result.output


def test_without_duckdb_the_library_names_the_extra(
    two_runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if the analysis extra were missing
    hint = "querying traces needs duckdb: pip install 'automem[analysis]'"
    with pytest.raises(ValueError, match=r"^querying traces needs duckdb: .*automem\[analysis\]"):
        query(two_runs, "SELECT count(*) FROM steps")
    result = CliRunner().invoke(app, ["query", "SELECT 1", str(two_runs[0])])
    assert result.exit_code == 2 and hint in result.output
