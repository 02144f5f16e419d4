"""Column definitions shared by the SQLite and Parquet writers, so both agree on names and types.

A column is ``(name, kind)``. Kinds and how each writer stores them:

====== =============================== ============================== ==========================
kind   meaning                         Parquet (Polars dtype)         SQLite
====== =============================== ============================== ==========================
str    text                            Utf8                           TEXT
int    signed 64-bit integer           Int64                          INTEGER
u64    raw token / quote amount        UInt64                         INTEGER (exact TEXT above
                                                                      2**63 - 1, see sinks.sqlite)
float  SOL in UI units, scores         Float64                        REAL
bool   flag                            Boolean                        INTEGER 0/1
====== =============================== ============================== ==========================

Every column may be null except the identifying ones (``mint``, ``signature``, ``ts`` ...), which the
producers always fill. Aggregate columns are derived from the configured windows, so a run with
``SOLFLOW_WINDOWS=60,600`` gets ``net_flow_600s_sol`` and no ``net_flow_300s_sol``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

Column = tuple[str, str]

TRADE_COLUMNS: tuple[Column, ...] = (
    ("signature", "str"),
    ("slot", "int"),
    ("tx_index", "int"),
    ("block_time", "int"),
    ("program", "str"),
    ("program_id", "str"),
    ("direction", "str"),
    ("trader", "str"),
    ("fee_payer", "str"),
    ("mint", "str"),
    ("quote_mint", "str"),
    ("token_amount_raw", "u64"),
    ("token_decimals", "int"),
    ("quote_amount_raw", "u64"),
    ("quote_decimals", "int"),
    ("fee_amount_raw", "u64"),
    ("outer_ix_index", "int"),
    ("inner_ix_index", "int"),
    ("via", "str"),
    ("pool", "str"),
    ("is_dca", "bool"),
    ("decode_source", "str"),
)

AGGREGATE_KEY_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("ts", "int"),  # event-time tick the row describes (unix s)
    ("last_trade_ts", "int"),
    ("programs", "str"),  # sorted program names seen in the longest window, comma-joined
    ("trades_total", "int"),
)

# Per-window metric columns; "{w}" is the window length in seconds.
WINDOW_METRIC_COLUMNS: tuple[Column, ...] = (
    ("net_flow_{w}s_sol", "float"),
    ("buy_count_{w}s", "int"),
    ("sell_count_{w}s", "int"),
    ("buy_volume_{w}s_sol", "float"),
    ("sell_volume_{w}s_sol", "float"),
    ("unique_wallets_{w}s", "int"),
    ("unique_buyers_{w}s", "int"),
    ("unique_sellers_{w}s", "int"),
    ("avg_trade_size_{w}s_sol", "float"),
    ("bot_trades_{w}s", "int"),
    ("bot_wallets_{w}s", "int"),
    ("dca_buys_{w}s", "int"),
)

SIGNAL_COLUMNS: tuple[Column, ...] = (
    ("mint", "str"),
    ("signal_type", "str"),
    ("window_seconds", "int"),
    ("severity", "int"),
    ("score", "float"),
    ("details", "str"),  # the signal's details dict as compact JSON
    ("ts", "int"),  # event time of the row that turned the signal on or off
    ("state", "str"),  # "on" | "off"
)


def window_metric_columns(windows: Iterable[int]) -> tuple[Column, ...]:
    """Metric columns for these windows, grouped by metric then window (``net_flow_60s_sol``, ``net_flow_300s_sol``, ...)."""
    ordered = sorted(set(windows))
    return tuple((name.format(w=w), kind) for name, kind in WINDOW_METRIC_COLUMNS for w in ordered)


def aggregate_columns(windows: Iterable[int]) -> tuple[Column, ...]:
    """Every column of an aggregate row produced with these windows."""
    return AGGREGATE_KEY_COLUMNS + window_metric_columns(windows)


def row_packer(columns: Sequence[Column], what: str) -> Callable[[Mapping[str, Any]], tuple]:
    """A function turning a row dict into its values in ``columns`` order (the sinks' row tuples);
    it raises ``RowShapeError`` unless the row's keys are exactly the columns' names."""
    names = [name for name, _ in columns]
    expected = frozenset(names)
    size = len(expected)
    pick = itemgetter(*names)

    def pack(row: Mapping[str, Any]) -> tuple:
        # Every column picked and no more keys than columns: exactly the schema's keys, checked
        # without building key sets (this runs once per aggregate row).
        try:
            values = pick(row)
        except KeyError:
            values = ()
        if len(row) != size or len(values) != size:
            check_row_keys(row, expected, what)
        return values

    return pack


def check_row_lengths(rows: Iterable[tuple], columns: Sequence[Column], what: str) -> None:
    """Raise ``RowShapeError`` for a row tuple that has not one value per column."""
    size = len(columns)
    for row in rows:
        if len(row) != size:
            raise RowShapeError(f"{what} row has {len(row)} values, expected {size} ({columns[0][0]}, ...)")


class RowShapeError(ValueError):
    """A row handed to a sink does not have the columns the sink's schema expects."""


def check_row_keys(row: Mapping[str, Any], expected: frozenset[str], what: str) -> None:
    """Raise ``RowShapeError`` naming the missing and unexpected keys, so no value is dropped unnoticed."""
    if row.keys() == expected:
        return
    missing = sorted(expected - row.keys())
    unexpected = sorted(row.keys() - expected)
    raise RowShapeError(f"{what} row has missing keys {missing} and unexpected keys {unexpected}")
