"""README's Polars and DuckDB snippets, run as written on the outputs of a real flow run over the
embedded sample capture, which holds USDC-quoted trades: their decimal amounts must be the raw
amounts scaled by USDC's own 6 decimals (not SOL's 9), in Polars, DuckDB, SQLite and JSONL alike."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from test_flow_support import assert_ok, flow_env, run_flow, sample_capture

from solflow.domain.programs import WSOL_MINT

REPO_ROOT = Path(__file__).resolve().parent.parent
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SECTION = "### Analysing with Polars and DuckDB"


def snippets(language: str) -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index(SECTION)
    section = readme[start : readme.index("\n## ", start)]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ``out/`` holds every output of a run over data/sample.capture."""
    work = tmp_path_factory.mktemp("readme")
    assert_ok(run_flow(flow_env(work / "out", sample_capture(), SOLFLOW_LEGACY="both")))
    return work


@pytest.fixture(scope="module")
def polars_results(workdir: Path) -> dict[str, Any]:
    [code] = snippets("python")
    namespace: dict[str, Any] = {}
    cwd = Path.cwd()
    os.chdir(workdir)  # the snippet reads "out/…" as a user in their working directory would
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_the_polars_snippet_lists_usdc_trades_in_usdc(polars_results: dict[str, Any]) -> None:
    usdc_trades: pl.DataFrame = polars_results["usdc_trades"]
    assert usdc_trades.height > 0, "the sample capture should hold USDC-quoted trades"
    assert usdc_trades.schema["block_time"] == pl.Datetime("ms", "UTC")
    for trade in usdc_trades.iter_rows(named=True):
        assert trade["quote_decimals"] == 6
        assert trade["quote_amount"] == trade["quote_amount_raw"] / 10**6
    # The README's old mistake (every quote divided by 1e9) would be off by a factor of 1000.
    first = usdc_trades.row(0, named=True)
    assert first["quote_amount"] == pytest.approx(first["quote_amount_raw"] / 1e9 * 1000)


def test_the_polars_volume_is_per_quote_in_its_own_units(polars_results: dict[str, Any], workdir: Path) -> None:
    volume: pl.DataFrame = polars_results["volume"]
    raw = pl.read_parquet(workdir / "out" / "trades" / "*" / "*.parquet")
    for quote, decimals in ((USDC, 6), (WSOL_MINT, 9)):
        expected = raw.filter(pl.col("quote_mint") == quote).get_column("quote_amount_raw").sum() / 10**decimals
        assert volume.filter(pl.col("quote_mint") == quote).get_column("volume").sum() == pytest.approx(expected)
    assert polars_results["latest"].height > 0


def test_the_duckdb_snippets_agree_with_polars(polars_results: dict[str, Any], workdir: Path) -> None:
    [sql] = snippets("sql")
    statements = [s.strip() for s in re.sub(r"--.*", "", sql).split(";") if s.strip()]
    assert len(statements) == 2
    with duckdb.connect() as con:
        cwd = Path.cwd()
        os.chdir(workdir)
        try:
            peaks, volume = (con.sql(statement).pl() for statement in statements)
        finally:
            os.chdir(cwd)
    assert peaks.height == 10
    polars_volume = polars_results["volume"]
    assert volume.columns == polars_volume.columns
    assert volume.get_column("trades").to_list() == polars_volume.get_column("trades").to_list()
    assert volume.get_column("volume").to_list() == pytest.approx(polars_volume.get_column("volume").to_list())


def test_sqlite_and_jsonl_carry_the_same_usdc_amounts(polars_results: dict[str, Any], workdir: Path) -> None:
    usdc_trades: pl.DataFrame = polars_results["usdc_trades"]
    expected = sorted(usdc_trades.get_column("quote_amount").to_list())
    db = sqlite3.connect(workdir / "out" / "solflow.db")
    stored = sorted(q for (q,) in db.execute("SELECT quote_amount FROM trades WHERE quote_mint = ?", (USDC,)))
    db.close()
    lines = [json.loads(line) for path in (workdir / "out" / "streams").glob("*/events.jsonl") for line in path.open()]
    in_jsonl = sorted(line["quote_amount"] for line in lines if line["quote_mint"] == USDC)
    assert stored == in_jsonl == expected
    assert all(line["sol_amount"] is None for line in lines if line["quote_mint"] == USDC)
