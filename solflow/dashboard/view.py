"""What the live views show, read from ``solflow.db`` (read-only) and the user's control store.

``read_tokens`` is the token table (sorted, filtered, paged; blocked mints left out, followed mints
first), ``read_token`` one mint's detail, ``read_signals`` the latest signals. Time is chain time:
``chain_time`` is the pipeline's latest event time (``solflow.control.latest_event_time``) and ages
and spans are measured against it, never against the wall clock.

A mint is listed while it has a trade in its longest window (the flow's final all-zero row of a mint
that went quiet is not). The table reads ``token_aggregates`` and the flow's token tables (a
database of an older SolFlow lacks some of them); ``Schema`` finds what exists and ``columns`` in
every answer says which are present, so a page can tell "not known yet" from "zero":

======================== ==================================================================
table                    columns read when present
======================== ==================================================================
``token_aggregates``     ``price_sol``, ``price`` and ``quote_mint`` (a price in another quote),
                         ``market_cap_sol``, ``bonding_progress`` (0-1), ``price_change_300s``,
                         ``price_change_3600s``
``token_metadata``       ``mint``, ``token_name``, ``token_symbol``, ``created_ts`` (chain time of
                         the launch), ``graduated`` (0/1), ``launch_program``; the detail shows
                         every column
``token_signal_summary`` ``mint``, ``persistence_score``, ``pattern_tag``, ``confidence``
``dca_activity_buckets`` ``mint``, ``minute``, ``dca_buys``
======================== ==================================================================

``FlowHistory`` keeps each mint's recent 5-minute net flow for the sparklines: ``token_aggregates``
holds only the current row, so the history is collected from each commit's new rows, after seeding
it from the Parquet aggregate history when there is one.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinks.schema import WINDOW_METRIC_COLUMNS
from solflow.control import Block, Blocklist, ControlError, Follow, check_mint, latest_event_time
from solflow.domain.programs import PROGRAM_NAMES

__all__ = [
    "FLOW_WINDOWS",
    "SORTS",
    "Control",
    "FlowHistory",
    "Query",
    "Schema",
    "UnknownMint",
    "ViewError",
    "read_signals",
    "read_token",
    "read_tokens",
]

FLOW_WINDOWS = (60, 300, 900, 3600, 14400)  # the net-flow columns shown: 1 m, 5 m, 15 m, 1 h, 4 h
DEFAULT_SORT = "nf_300"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
SPARK_STEP_S = 30  # one sparkline point per 30 s of chain time ...
SPARK_POINTS = 30  # ... over the last 15 minutes
SIGNALS_SPAN_S = 3600  # "recent" signals: the last hour of chain time
DCA_SPAN_MINUTES = 60
TOKEN_SIGNALS_SHOWN = 50
TRADES_SHOWN = 20

_TABLES = (
    "token_aggregates",
    "token_metadata",
    "token_signal_summary",
    "token_signals",
    "dca_activity_buckets",
    "trades",
)
_WINDOW_COUNT = re.compile(r"^buy_count_(\d+)s$")

# Token-table field -> (table alias, candidate columns): the first column present is read, else NULL.
_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "programs": ("a", ("programs",)),
    "ts": ("a", ("ts",)),
    "first_ts": ("a", ("first_ts",)),
    "last_trade_ts": ("a", ("last_trade_ts",)),
    **{f"nf_{w}": ("a", (f"net_flow_{w}s_sol",)) for w in FLOW_WINDOWS},
    "buys_300": ("a", ("buy_count_300s",)),
    "sells_300": ("a", ("sell_count_300s",)),
    "wallets_300": ("a", ("unique_wallets_300s",)),
    "bot_wallets_300": ("a", ("bot_wallets_300s",)),
    "dca_buys_3600": ("a", ("dca_buys_3600s",)),
    "price_sol": ("a", ("price_sol",)),
    "price": ("a", ("price",)),
    "quote_mint": ("a", ("quote_mint",)),
    "market_cap_sol": ("a", ("market_cap_sol",)),
    "bonding_progress": ("a", ("bonding_progress",)),
    "price_change_300s": ("a", ("price_change_300s",)),
    "price_change_3600s": ("a", ("price_change_3600s",)),
    "name": ("m", ("token_name",)),
    "symbol": ("m", ("token_symbol",)),
    "created_ts": ("m", ("created_ts",)),
    "graduated": ("m", ("graduated",)),
    "launch_program": ("m", ("launch_program",)),
    "score": ("s", ("persistence_score",)),
    "pattern": ("s", ("pattern_tag",)),
    "confidence": ("s", ("confidence",)),
}
_ALIASED = {"a": "token_aggregates", "m": "token_metadata", "s": "token_signal_summary"}

# ``sort`` parameter -> expression over the fields above
SORTS: dict[str, str] = {
    "token": "coalesce(name, symbol, mint) COLLATE NOCASE",
    "venue": "programs",
    "age": "age_s",
    "price": "price_sol",
    "mcap": "market_cap_sol",
    "progress": "bonding_progress",
    **{f"nf_{w}": f"nf_{w}" for w in FLOW_WINDOWS},
    "buys": "buys_300",
    "sells": "sells_300",
    "wallets": "wallets_300",
    "dca": "dca_buys_3600",
    "score": "score",
}

_QUERY_PARAMETERS = frozenset(
    ("sort", "order", "program", "q", "dca", "hide_graduated", "min_nf300", "limit", "offset")
)

# Optional columns, by the name ``columns`` reports them under
_OPTIONAL = ("name", "symbol", "created_ts", "graduated", "price_sol", "market_cap_sol", "bonding_progress", "score")


class ViewError(ValueError):
    """A request the view cannot answer (a bad parameter); the message says why."""


class UnknownMint(ViewError):
    """The mint is not in the database."""


@dataclass(frozen=True, slots=True)
class Control:
    """The control store's state a view is read with."""

    blocklist: Blocklist
    followed: Mapping[str, Follow]

    def blocked_at(self, chain_time: int | None) -> list[str]:
        return sorted(self.blocklist.blocks) if chain_time is None else sorted(self.blocklist.active_at(chain_time))


@dataclass(frozen=True, slots=True)
class Query:
    """The token table's parameters (``/api/tokens``, ``/api/stream``)."""

    sort: str = DEFAULT_SORT
    descending: bool = True
    programs: tuple[str, ...] = ()
    search: str = ""
    dca_only: bool = False
    hide_graduated: bool = False
    min_nf_300: float | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        """From URL parameters: ``sort``, ``order`` (asc|desc), ``program`` (comma list), ``q``,
        ``dca`` and ``hide_graduated`` (1|0), ``min_nf300``, ``limit`` (1-500), ``offset``."""
        unknown = set(params) - _QUERY_PARAMETERS
        if unknown:
            raise ViewError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        sort = params.get("sort", DEFAULT_SORT)
        if sort not in SORTS:
            raise ViewError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ViewError(f"order must be asc or desc; got {order!r}")
        programs = tuple(p for p in params.get("program", "").split(",") if p)
        unknown_programs = [p for p in programs if p not in PROGRAM_NAMES]
        if unknown_programs:
            raise ViewError(f"unknown program(s) {unknown_programs}; expected some of {', '.join(PROGRAM_NAMES)}")
        search = params.get("q", "").strip()
        if len(search) > 100:
            raise ViewError("q is longer than 100 characters")
        min_flow = params.get("min_nf300", "").strip()
        return cls(
            sort=sort,
            descending=order == "desc",
            programs=programs,
            search=search,
            dca_only=_flag(params, "dca"),
            hide_graduated=_flag(params, "hide_graduated"),
            min_nf_300=_number(min_flow, "min_nf300") if min_flow else None,
            limit=_whole(params.get("limit", str(DEFAULT_LIMIT)), "limit", 1, MAX_LIMIT),
            offset=_whole(params.get("offset", "0"), "offset", 0, None),
        )


@dataclass(frozen=True, slots=True)
class Schema:
    """The tables of ``_TABLES`` that exist, and their columns."""

    tables: Mapping[str, frozenset[str]]

    @classmethod
    def read(cls, db: sqlite3.Connection) -> Schema:
        present = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return cls(
            {
                name: frozenset(row[1] for row in db.execute(f"PRAGMA table_info({name})"))
                for name in _TABLES
                if name in present
            }
        )

    def first(self, table: str, candidates: Iterable[str]) -> str | None:
        columns = self.tables.get(table, frozenset())
        return next((c for c in candidates if c in columns), None)

    def windows(self) -> tuple[int, ...]:
        """Windows with count columns in ``token_aggregates``."""
        found = (_WINDOW_COUNT.match(c) for c in self.tables.get("token_aggregates", ()))
        return tuple(sorted(int(m[1]) for m in found if m))

    def columns(self) -> dict[str, bool]:
        """Which optional values the database has."""
        return {name: self.field_sql(name) is not None for name in _OPTIONAL} | {
            "dca_buckets": self.dca_columns() is not None
        }

    def field_sql(self, name: str) -> str | None:
        """The column a token-table field reads, as ``alias.column``; ``None`` if the database lacks it."""
        alias, candidates = _FIELDS[name]
        column = self.first(_ALIASED[alias], candidates)
        return None if column is None or self.join_key(alias) is None else f"{alias}.{column}"

    def join_key(self, alias: str) -> str | None:
        """The column a table joins ``token_aggregates`` on (``None``: it cannot be joined)."""
        return self.first(_ALIASED[alias], ("mint",))

    def dca_columns(self) -> tuple[str, str] | None:
        """The DCA minutes' time and count columns; ``None`` without the table."""
        return (
            ("minute", "dca_buys")
            if {"mint", "minute", "dca_buys"} <= self.tables.get("dca_activity_buckets", set())
            else None
        )


class FlowHistory:
    """Each mint's 5-minute net flow over the last ``SPARK_POINTS`` steps of chain time.

    >>> history = FlowHistory()
    >>> history.add([("M", 1000, 1.5), ("M", 1030, 2.0)])
    >>> history.series("M", 1060)[-3:]
    [1.5, 2.0, 2.0]
    """

    def __init__(self) -> None:
        self._points: dict[str, dict[int, tuple[int, float]]] = {}  # mint -> step -> (ts, value)
        self._seen_ts: int | None = None  # the latest tick read from the database
        self._pruned_at: int | None = None  # the first step kept by the latest pruning
        self._lock = threading.Lock()

    def add(self, rows: Iterable[tuple[str, int, float | None]]) -> None:
        """Points ``(mint, ts, net_flow_300s)``, in any order; the latest per step is kept."""
        with self._lock:
            for mint, ts, value in rows:
                steps = self._points.setdefault(mint, {})
                step = ts // SPARK_STEP_S
                if step not in steps or steps[step][0] <= ts:
                    steps[step] = (ts, value or 0.0)

    def update(self, db: sqlite3.Connection, chain_time: int) -> None:
        """Take the rows committed since the last update (and forget what is out of the span)."""
        since = chain_time - SPARK_POINTS * SPARK_STEP_S if self._seen_ts is None else self._seen_ts
        rows = db.execute("SELECT mint, ts, net_flow_300s_sol FROM token_aggregates WHERE ts >= ?", (since,)).fetchall()
        self.add(rows)
        self._seen_ts = max([chain_time, *(ts for _, ts, _ in rows)])
        self._prune(chain_time)

    def series(self, mint: str, chain_time: int) -> list[float | None]:
        """``SPARK_POINTS`` values ending at ``chain_time``; a step without a row holds the value
        before it (rows are written when the value changes); ``None`` before the first known point."""
        last_step = chain_time // SPARK_STEP_S
        with self._lock:
            points = sorted(self._points.get(mint, {}).items())
        out: list[float | None] = []
        value: float | None = None
        i = 0
        for step in range(last_step - SPARK_POINTS + 1, last_step + 1):
            while i < len(points) and points[i][0] <= step:
                value = points[i][1][1]
                i += 1
            out.append(value)
        return out

    def _prune(self, chain_time: int) -> None:
        first_step = chain_time // SPARK_STEP_S - SPARK_POINTS + 1
        if first_step == self._pruned_at:  # once per step, not once per commit
            return
        self._pruned_at = first_step
        with self._lock:
            for mint in list(self._points):
                steps = self._points[mint]
                old = sorted(s for s in steps if s < first_step)
                if len(old) == len(steps):  # nothing in the span: the table's current value stands in
                    del self._points[mint]
                    continue
                for step in old[:-1]:  # the latest older point is the value the span starts with
                    del steps[step]


def read_tokens(
    db: sqlite3.Connection | None, control: Control, query: Query, history: FlowHistory | None = None
) -> dict[str, Any]:
    """The token table: ``chain_time``, ``counts``, ``columns``, ``windows``, ``offset``, ``limit``
    and ``tokens`` (one dict per mint, in order); with no database yet (``None``), an empty one."""
    schema, chain_time = _schema_and_time(db)
    answer: dict[str, Any] = {
        "chain_time": chain_time,
        "columns": schema.columns(),
        "windows": [w for w in FLOW_WINDOWS if w in schema.windows()],
        "counts": {"active": 0, "matching": 0, "blocked": len(control.blocked_at(chain_time)),
                   "followed": len(control.followed), "signals_1h": 0},
        "offset": query.offset,
        "limit": query.limit,
        "tokens": [],
    }  # fmt: skip
    if db is None or chain_time is None or "token_aggregates" not in schema.tables:
        return answer
    blocked = control.blocked_at(chain_time)
    select, params = _token_select(schema, blocked, list(control.followed), chain_time)
    where, where_params = _filters(query)
    params |= where_params
    active, matching = db.execute(f"{select} SELECT count(*), coalesce(sum({where}), 0) FROM v", params).fetchone()
    direction = "DESC" if query.descending else "ASC"
    rows = db.execute(
        f"{select} SELECT * FROM v WHERE {where}"
        f" ORDER BY followed DESC, {SORTS[query.sort]} {direction} NULLS LAST, mint LIMIT :limit OFFSET :offset",
        params | {"limit": query.limit, "offset": query.offset},
    ).fetchall()
    tokens = [_token(dict(row)) for row in rows]
    mints = [t["mint"] for t in tokens]
    signals = _active_signals(db, schema, mints)
    dca = _dca_series(db, schema, mints, chain_time)
    for token in tokens:
        token["signals"] = signals.get(token["mint"], [])
        token["dca_spark"] = dca.get(token["mint"]) if dca is not None else None
        token["spark"] = history.series(token["mint"], chain_time) if history is not None else []
        if not any(v is not None for v in token["spark"]):
            token["spark"] = [token["nf_300"]] * SPARK_POINTS
    answer["counts"] |= {
        "active": active,
        "matching": matching,
        "signals_1h": _signals_count(db, schema, blocked, chain_time),
    }
    answer["tokens"] = tokens
    return answer


def read_token(db: sqlite3.Connection | None, control: Control, mint: str, out: Path | None = None,
               history: FlowHistory | None = None) -> dict[str, Any]:  # fmt: skip
    """One mint: ``metadata``, ``aggregate`` (the current row), ``windows`` (its per-window
    metrics), ``summary``, ``signals`` (latest first), ``trades`` (latest first), block and follow state."""
    try:
        mint = check_mint(mint)
    except ControlError as exc:
        raise ViewError(str(exc)) from None
    if db is None:
        raise UnknownMint(f"mint {mint} is not in the database (there is no database yet)")
    schema, chain_time = _schema_and_time(db)
    aggregate = _row(db, schema, "token_aggregates", schema.join_key("a"), mint)
    metadata = _row(db, schema, "token_metadata", schema.join_key("m"), mint)
    if aggregate is None and metadata is None:
        raise UnknownMint(f"mint {mint} is not in the database")
    block = control.blocklist.blocks.get(mint)
    return {
        "mint": mint,
        "chain_time": chain_time,
        "metadata": metadata,
        "aggregate": aggregate,
        "windows": _windows(aggregate, schema.windows()) if aggregate else [],
        "summary": _row(db, schema, "token_signal_summary", schema.join_key("s"), mint),
        "signals": _mint_signals(db, schema, mint),
        **_trades(db, schema, mint, out, chain_time),
        "spark": history.series(mint, chain_time) if history is not None and chain_time is not None else [],
        "blocked": _block_json(block, chain_time),
        "followed": mint in control.followed,
    }


def read_signals(db: sqlite3.Connection | None, control: Control, params: Mapping[str, str]) -> dict[str, Any]:
    """Signals that turned on, latest first: ``since`` (unix s, default an hour of chain time
    back), ``type``, ``limit`` (1-1000, default 100); blocked mints left out."""
    unknown = set(params) - {"since", "type", "limit"}
    if unknown:
        raise ViewError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    schema, chain_time = _schema_and_time(db)
    limit = _whole(params.get("limit", "100"), "limit", 1, 1000)
    answer: dict[str, Any] = {"chain_time": chain_time, "signals": []}
    if db is None or chain_time is None or "token_signals" not in schema.tables:
        return answer
    since = _whole(params["since"], "since", 0, None) if "since" in params else chain_time - SIGNALS_SPAN_S
    names = f"{schema.field_sql('name') or 'NULL'} AS name, {schema.field_sql('symbol') or 'NULL'} AS symbol"
    join = "LEFT JOIN token_metadata m ON m.mint = t.mint" if "token_metadata" in schema.tables else ""
    type_filter = "AND t.signal_type = :type" if "type" in params else ""
    rows = db.execute(
        f"SELECT t.mint, t.signal_type, t.window_seconds, t.severity, t.score, t.details, t.ts, {names}"
        f" FROM token_signals t {join}"
        f" WHERE t.state = 'on' AND t.ts > :since {type_filter}"
        "  AND t.mint NOT IN (SELECT value FROM json_each(:blocked))"
        " ORDER BY t.ts DESC, t.id DESC LIMIT :limit",
        {"since": since, "type": params.get("type"), "limit": limit,
         "blocked": json.dumps(control.blocked_at(chain_time))},
    ).fetchall()  # fmt: skip
    answer["signals"] = [_signal(dict(row)) for row in rows]
    return answer


def _schema_and_time(db: sqlite3.Connection | None) -> tuple[Schema, int | None]:
    return (Schema({}), None) if db is None else (Schema.read(db), latest_event_time(db))


# ---------------------------------------------------------------- the token table


def _token_select(
    schema: Schema, blocked: Sequence[str], followed: Sequence[str], chain_time: int
) -> tuple[str, dict[str, Any]]:
    """``WITH v AS (...)``: the listed mints with every field, before the user's filters."""
    fields = [f"{schema.field_sql(name) or 'NULL'} AS {name}" for name in _FIELDS]
    joins = [
        f"LEFT JOIN {_ALIASED[alias]} {alias} ON {alias}.{key} = a.mint"
        for alias in ("m", "s")
        if (key := schema.join_key(alias)) is not None
    ]
    traded = " + ".join(
        f"coalesce(a.buy_count_{w}s, 0) + coalesce(a.sell_count_{w}s, 0)"
        for w in schema.windows()
        if f"sell_count_{w}s" in schema.tables["token_aggregates"]
    )
    select = (
        "WITH f AS (SELECT a.mint AS mint, " + ", ".join(fields)
        + ", a.mint IN (SELECT value FROM json_each(:followed)) AS followed"
        + " FROM token_aggregates a " + " ".join(joins)
        + f" WHERE ({traded or '0'}) > 0 AND a.mint NOT IN (SELECT value FROM json_each(:blocked))),"
        " v AS (SELECT *, :chain_time - coalesce(created_ts, first_ts) AS age_s FROM f)"
    )  # fmt: skip
    return select, {
        "followed": json.dumps(list(followed)),
        "blocked": json.dumps(list(blocked)),
        "chain_time": chain_time,
    }


def _filters(query: Query) -> tuple[str, dict[str, Any]]:
    """The user's filters as one boolean SQL expression over ``v``."""
    terms: list[str] = ["1"]
    params: dict[str, Any] = {}
    if query.programs:
        names = [f":program{i}" for i in range(len(query.programs))]
        terms.append("(" + " OR ".join(f"instr(',' || programs || ',', ',' || {n} || ',') > 0" for n in names) + ")")
        params |= dict(zip((n[1:] for n in names), query.programs, strict=True))
    if query.search:
        pattern = "%" + query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        terms.append(
            "(mint LIKE :search ESCAPE '\\' OR name LIKE :search ESCAPE '\\' OR symbol LIKE :search ESCAPE '\\')"
        )
        params["search"] = pattern
    if query.dca_only:
        terms.append("coalesce(dca_buys_3600, 0) > 0")
    if query.hide_graduated:
        terms.append("coalesce(graduated, 0) = 0")
    if query.min_nf_300 is not None:
        terms.append("coalesce(nf_300, 0) >= :min_nf_300")
        params["min_nf_300"] = query.min_nf_300
    return "(" + " AND ".join(terms) + ")", params


def _token(row: dict[str, Any]) -> dict[str, Any]:
    created = row.pop("created_ts")
    row["age_from"] = "created" if created is not None else "first_seen"
    row["programs"] = [p for p in (row["programs"] or "").split(",") if p]
    row["followed"] = bool(row["followed"])
    row["graduated"] = None if row["graduated"] is None else bool(row["graduated"])
    return row


def _active_signals(db: sqlite3.Connection, schema: Schema, mints: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per mint, the signals whose latest transition turned them on."""
    if "token_signals" not in schema.tables or not mints:
        return {}
    rows = db.execute(
        "SELECT mint, signal_type, severity, score, ts FROM ("
        " SELECT *, row_number() OVER (PARTITION BY mint, signal_type ORDER BY ts DESC, id DESC) AS latest"
        " FROM token_signals WHERE mint IN (SELECT value FROM json_each(?))"
        ") WHERE latest = 1 AND state = 'on' ORDER BY mint, signal_type",
        (json.dumps(mints),),
    ).fetchall()
    active: dict[str, list[dict[str, Any]]] = {}
    for mint, kind, severity, score, ts in rows:
        active.setdefault(mint, []).append({"type": kind, "severity": severity, "score": score, "since": ts})
    return active


def _dca_series(
    db: sqlite3.Connection, schema: Schema, mints: list[str], chain_time: int
) -> dict[str, list[int]] | None:
    """Per mint, DCA buys per minute over the last hour of chain time; ``None`` without the table."""
    columns = schema.dca_columns()
    if columns is None:
        return None
    time, count = columns
    last = chain_time // 60
    series = {mint: [0] * DCA_SPAN_MINUTES for mint in mints}
    rows = db.execute(
        f"SELECT mint, {time}, {count} FROM dca_activity_buckets"
        f" WHERE mint IN (SELECT value FROM json_each(?)) AND {time} > ?",
        (json.dumps(mints), (last - DCA_SPAN_MINUTES) * 60),
    ).fetchall()
    for mint, minute, buys in rows:
        index = int(minute) // 60 - last + DCA_SPAN_MINUTES - 1
        if 0 <= index < DCA_SPAN_MINUTES:
            series[mint][index] += int(buys or 0)
    return series


def _signals_count(db: sqlite3.Connection, schema: Schema, blocked: list[str], chain_time: int) -> int:
    if "token_signals" not in schema.tables:
        return 0
    (count,) = db.execute(
        "SELECT count(*) FROM token_signals WHERE state = 'on' AND ts > ?"
        " AND mint NOT IN (SELECT value FROM json_each(?))",
        (chain_time - SIGNALS_SPAN_S, json.dumps(blocked)),
    ).fetchone()
    return int(count)


# ---------------------------------------------------------------- one token


def _row(db: sqlite3.Connection, schema: Schema, table: str, key: str | None, mint: str) -> dict[str, Any] | None:
    if table not in schema.tables or key is None:
        return None
    row = db.execute(f"SELECT * FROM {table} WHERE {key} = ?", (mint,)).fetchone()
    return None if row is None else dict(row)


def _windows(aggregate: Mapping[str, Any], windows: Iterable[int]) -> list[dict[str, Any]]:
    """The current row's metrics per window, keyed by the metric's name without the window."""
    out = []
    for w in windows:
        if aggregate.get(f"net_flow_{w}s_sol") is None:  # a window this run does not compute
            continue
        metrics: dict[str, Any] = {"window": w}
        for template, _ in WINDOW_METRIC_COLUMNS:
            metrics[template.replace("_{w}s", "")] = aggregate.get(template.format(w=w))
        out.append(metrics)
    return out


def _mint_signals(db: sqlite3.Connection, schema: Schema, mint: str) -> list[dict[str, Any]]:
    if "token_signals" not in schema.tables:
        return []
    rows = db.execute(
        "SELECT mint, signal_type, window_seconds, severity, score, details, ts, state FROM token_signals"
        " WHERE mint = ? ORDER BY ts DESC, id DESC LIMIT ?",
        (mint, TOKEN_SIGNALS_SHOWN),
    ).fetchall()
    return [_signal(dict(row)) for row in rows]


def _signal(row: dict[str, Any]) -> dict[str, Any]:
    row["details"] = json.loads(row["details"]) if row.get("details") else {}
    return row


def _trades(
    db: sqlite3.Connection, schema: Schema, mint: str, out: Path | None, chain_time: int | None
) -> dict[str, Any]:
    """The latest trades of ``mint``: from the SQLite ``trades`` table when the flow writes it, else
    from the Parquet trades of the last hour of chain time."""
    if "trades" in schema.tables:
        rows = db.execute(
            "SELECT * FROM trades WHERE mint = ? ORDER BY block_time DESC, slot DESC, tx_index DESC LIMIT ?",
            (mint, TRADES_SHOWN),
        ).fetchall()
        if rows:
            return {"trades": [dict(row) for row in rows], "trades_source": "sqlite"}
    if out is None or chain_time is None:
        return {"trades": [], "trades_source": None}
    import polars as pl

    from solflow.analysis.outputs import AnalysisError, Outputs

    try:
        outputs = Outputs(out)
        query = (
            outputs.scan("trades", after=chain_time - SIGNALS_SPAN_S)
            .filter(pl.col("mint") == mint)
            .sort("block_time", "slot", "tx_index", descending=True)
            .head(TRADES_SHOWN)
        )
        trades = outputs.collect("trades", query).drop("date", strict=False)
    except AnalysisError:
        return {"trades": [], "trades_source": None}
    return {"trades": trades.to_dicts(), "trades_source": "parquet"}


def _block_json(block: Block | None, chain_time: int | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return block.as_json() | {"active": chain_time is None or block.active_at(chain_time)}


# ---------------------------------------------------------------- parameters


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "0").lower()
    if value not in ("0", "1", "true", "false", ""):
        raise ViewError(f"{name} must be 1 or 0; got {value!r}")
    return value in ("1", "true")


def _whole(text: str, name: str, minimum: int, maximum: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ViewError(f"{name} must be a whole number; got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ViewError(f"{name} must be {bound}; got {value}")
    return value


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ViewError(f"{name} must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise ViewError(f"{name} must be a finite number; got {text!r}")
    return value
