"""One name per quantity across JSONL, SQLite and Parquet, each name documented, and docs/schema.md
generated from the writers' schemas (stale documentation fails here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sinks.dictionary import DOCUMENT, render
from sinks.jsonl import LEGACY_FIELDS, LINE_FIELDS
from sinks.schema import SIGNAL_COLUMNS, TRADE_COLUMNS, aggregate_columns, meaning, window_metric_columns
from sinks.sqlite import table_columns
from solflow.settings import DEFAULT_WINDOWS

TRADE_NAMES = [name for name, _ in TRADE_COLUMNS]


def test_docs_schema_is_generated_from_the_code() -> None:
    assert DOCUMENT.read_text() == render(), "docs/schema.md is stale: run python -m sinks.dictionary"


def test_the_check_command_agrees() -> None:
    done = subprocess.run([sys.executable, "-m", "sinks.dictionary", "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("windows", [DEFAULT_WINDOWS, (60, 300, 600, 86_400)])
def test_sqlite_tables_use_the_parquet_names(windows: tuple[int, ...]) -> None:
    sqlite = {table: [name for name, _ in columns] for table, columns in table_columns(windows).items()}
    assert sqlite["trades"] == TRADE_NAMES
    aggregates = {name for name, _ in aggregate_columns(windows)}
    # Beyond the Parquet columns: first_ts, and the default windows' columns the first migration
    # created (NULL when those windows are not configured).
    beyond = set(sqlite["token_aggregates"]) - aggregates
    assert aggregates <= set(sqlite["token_aggregates"])
    assert beyond - {name for name, _ in window_metric_columns(DEFAULT_WINDOWS)} == {"first_ts"}
    assert set(sqlite["token_signals"]) == {name for name, _ in SIGNAL_COLUMNS} | {"id"}


def test_jsonl_lines_are_the_legacy_keys_then_the_trade_columns() -> None:
    assert LEGACY_FIELDS + tuple(name for name in TRADE_NAMES if name not in LEGACY_FIELDS) == LINE_FIELDS


@pytest.mark.parametrize("windows", [DEFAULT_WINDOWS, (60, 300, 600, 86_400)])
def test_every_column_of_every_output_has_a_meaning(windows: tuple[int, ...]) -> None:
    names = set(LINE_FIELDS) | {name for name, _ in aggregate_columns(windows)}
    names |= {name for columns in table_columns(windows).values() for name, _ in columns}
    assert {name: meaning(name) for name in sorted(names)}  # KeyError names an undocumented column


def test_a_name_not_in_the_dictionary_is_refused() -> None:
    with pytest.raises(KeyError):
        meaning("volume_300s_sol")
