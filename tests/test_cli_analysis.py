"""``solflow top|trace|signals|plot`` as users run them: real subprocesses over the outputs of one
real flow run (``python -m bytewax.run flows.solflow`` over the embedded sample capture, or over
``SOLFLOW_REPLAY`` when set), each ``--json`` answer checked against values computed here, from the
Parquet files, without the ``solflow.analysis`` package."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from solflow.analysis.outputs import format_utc
from solflow.domain.bots import is_bot
from solflow.domain.pricing import USDC_MINT
from solflow.domain.programs import WSOL_MINT

SOLFLOW = Path(sys.executable).with_name("solflow")
CLI = [str(SOLFLOW)] if SOLFLOW.exists() else [sys.executable, "-m", "solflow.cli.main"]
# The run must not go live or pick up a developer's output settings; only the replay path may be chosen.
ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("GEYSER_URL", "X_TOKEN") and (not k.startswith("SOLFLOW_") or k == "SOLFLOW_REPLAY")
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])(?:;\d+)*m")  # an SGR foreground colour
TICK = 5  # the flow's default SOLFLOW_AGG_TICK


def solflow(*args: str | Path, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env={**ENV, **env}, cwd=cwd, timeout=120
    )


def solflow_json(*args: str | Path) -> Any:
    result = solflow(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def one_error_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"solflow {command}: error: ")
    return lines[0]


@pytest.fixture(scope="session")
def out(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of one flow run over the sample capture."""
    out = tmp_path_factory.mktemp("analysis") / "out"
    env = {**ENV, "SOLFLOW_OUT": str(out), "SOLFLOW_PROGRESS": "off"}
    run = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "flows.solflow"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "solflow run finished" in run.stdout + run.stderr
    return out


# ---------------------------------------------------------------- independent answers from Parquet


def read(out: Path, dataset: str) -> pl.DataFrame:
    """A dataset's rows, its times (stored as Datetime) in unix seconds as the commands print them."""
    frame = pl.read_parquet(out / dataset / "*" / "*.parquet", hive_partitioning=False)
    return frame.with_columns(pl.col(pl.Datetime).dt.epoch("s"))


def chain_order(trade: dict[str, Any]) -> tuple:
    inner = -1 if trade["inner_ix_index"] is None else trade["inner_ix_index"]
    time = trade["block_time"]
    return (time is None, time or 0, trade["slot"], trade["tx_index"], trade["outer_ix_index"], inner)


def active_signals(signals: pl.DataFrame, at: int) -> dict[str, list[str]]:
    active: dict[str, dict[str, tuple[int, str]]] = {}
    for row in signals.filter(pl.col("ts") <= at).iter_rows(named=True):
        latest = active.setdefault(row["mint"], {})
        seen = latest.get(row["signal_type"])
        if seen is None or row["ts"] > seen[0]:
            latest[row["signal_type"]] = (row["ts"], row["state"])
    return {mint: sorted(t for t, (_, state) in types.items() if state == "on") for mint, types in active.items()}


def expected_top(out: Path, window: int, by: str, limit: int, at: int) -> list[dict[str, Any]]:
    """The windows at the tick at or before ``at``, from the trades and the definitions."""
    tick = at // TICK * TICK
    trades = read(out, "trades").filter(pl.col("block_time") <= tick)
    inside = trades.filter(pl.col("block_time") > tick - window)
    longest = trades.filter(pl.col("block_time") > tick - 14_400)
    signals = active_signals(read(out, "signals"), at)
    expected = []
    for mint in inside.get_column("mint").unique():
        mine = sorted(inside.filter(pl.col("mint") == mint).to_dicts(), key=chain_order)
        sol = [t for t in mine if t["quote_mint"] == WSOL_MINT]
        bought = sum(t["quote_amount_raw"] for t in sol if t["direction"] == "buy")
        sold = sum(t["quote_amount_raw"] for t in sol if t["direction"] == "sell")
        by_wallet: dict[str, list[tuple]] = {}
        for t in mine:
            amount = t["quote_amount_raw"] if t["quote_mint"] == WSOL_MINT else None
            by_wallet.setdefault(t["trader"], []).append((t["block_time"], t["direction"] == "buy", amount))
        bots = [len(rated) for rated in by_wallet.values() if is_bot(rated)] if window <= 300 else None
        expected.append(
            {
                "mint": mint,
                "last_trade_ts": max(t["block_time"] for t in mine),
                "programs": ",".join(sorted(longest.filter(pl.col("mint") == mint).get_column("program").unique())),
                "net_flow_sol": (bought - sold) / 1e9,
                "buy_count": sum(1 for t in mine if t["direction"] == "buy"),
                "sell_count": sum(1 for t in mine if t["direction"] == "sell"),
                "buy_volume_sol": bought / 1e9,
                "sell_volume_sol": sold / 1e9,
                "unique_wallets": len(by_wallet),
                "bot_wallets": None if bots is None else len(bots),
                "bot_trades": None if bots is None else sum(bots),
                "dca_buys": sum(1 for t in mine if t["direction"] == "buy" and t["is_dca"]),
                "volume_sol": (bought + sold) / 1e9,
                "active_signals": signals.get(mint, []),
                **token_fields(out, mint, at),
            }
        )
    metric = {"net_flow": "net_flow_sol", "volume": "volume_sol", "buys": "buy_count", "wallets": "unique_wallets"}[by]
    expected.sort(key=lambda r: r["mint"])
    expected.sort(key=lambda r: r[metric], reverse=True)
    return expected[:limit]


def token_fields(out: Path, mint: str, at: int) -> dict[str, Any]:
    """A mint's names as of ``at`` (its latest tokens row), the price columns of its latest aggregate
    row, and its score in the latest scoring at or before ``at``."""
    names = read(out, "tokens").filter(pl.col("mint") == mint, pl.col("ts") <= at).sort("ts").tail(1).to_dicts()
    prices = read(out, "aggregates").filter(pl.col("mint") == mint, pl.col("ts") <= at).sort("ts").tail(1).to_dicts()
    return {
        "token_name": names[0]["token_name"] if names else None,
        "token_symbol": names[0]["token_symbol"] if names else None,
        **{name: prices[0][name] if prices else None for name in ("price_sol", "market_cap_sol", "bonding_progress")},
        "persistence_score": (latest_score(out, mint, at) or {}).get("persistence_score"),
    }


def latest_score(out: Path, mint: str, at: int | None = None) -> dict[str, Any] | None:
    scores = read(out, "scores")
    if at is not None:
        scores = scores.filter(pl.col("ts") <= at)
    if scores.is_empty():
        return None
    mine = scores.filter(pl.col("ts") == scores.get_column("ts").max(), pl.col("mint") == mint).to_dicts()
    return {k: mine[0][k] for k in ("persistence_score", "pattern_tag", "confidence", "ts")} if mine else None


def check_top(answer: dict[str, Any], out: Path, window: int, by: str, limit: int, at: int) -> None:
    """``top``'s mints are the expected ones; each state's tick lies between its last trade and ``at``."""
    expected = expected_top(out, window, by, limit, at)
    shown = [{k: v for k, v in row.items() if k != "ts"} for row in answer["mints"]]
    assert len(shown) == len(expected)
    for row, want in zip(shown, expected):
        assert row.keys() == want.keys()
        for key, value in want.items():
            assert row[key] == (pytest.approx(value) if isinstance(value, float) else value), (row["mint"], key)
    assert any(row["price_sol"] for row in answer["mints"]), "the leaders have prices"
    for row in answer["mints"]:
        assert -(-row["last_trade_ts"] // TICK) * TICK <= row["ts"] <= at


def expected_trace(out: Path, mint: str) -> dict[str, Any]:
    trades = sorted(read(out, "trades").filter(pl.col("mint") == mint).to_dicts(), key=chain_order)
    history = read(out, "aggregates").filter(pl.col("mint") == mint).sort("ts")
    signals = read(out, "signals").filter(pl.col("mint") == mint).sort("ts", "signal_type")
    windows = sorted(int(c[len("net_flow_") : -len("s_sol")]) for c in history.columns if c.startswith("net_flow_"))
    token = read(out, "tokens").filter(pl.col("mint") == mint).sort("ts").tail(1).drop("date", strict=False)
    return {
        "mint": mint,
        "windows": windows,
        "token": token.to_dicts()[0] if token.height else None,
        "score": latest_score(out, mint),
        "trades": trades,
        "history": history.to_dicts(),
        "signals": [
            {
                **{k: s[k] for k in ("ts", "state", "signal_type", "mint", "window_seconds", "severity", "score")},
                "details": json.loads(s["details"]),
            }
            for s in signals.iter_rows(named=True)
        ],
    }


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def busiest_mint(out: Path) -> str:
    """The mint with the most signal changes, then the most trades."""
    trades = read(out, "trades").group_by("mint").len("trades")
    signals = read(out, "signals").group_by("mint").len("signals")
    ranked = trades.join(signals, on="mint", how="left").fill_null(0)
    ranked = ranked.sort(["signals", "trades", "mint"], descending=True)
    return ranked.get_column("mint")[0]


# ---------------------------------------------------------------- top


def test_top_default_is_the_latest_tick_by_net_flow_in_5_minutes(out: Path) -> None:
    answer = solflow_json("top", "--out", out)
    latest = read(out, "aggregates").get_column("ts").max()
    assert (answer["at"], answer["window"], answer["by"]) == (latest, 300, "net_flow")
    check_top(answer, out, 300, "net_flow", 20, latest)
    assert answer["mints"], "the sample has mints trading in its last 5 minutes"


@pytest.mark.parametrize(
    ("window", "by", "limit", "at_form"),
    [
        (60, "buys", 5, "iso"),
        (300, "volume", 10, "unix"),
        (900, "wallets", 3, "between ticks"),
        (14400, "net_flow", 50, "iso"),
    ],
)
def test_top_at_an_earlier_time(out: Path, window: int, by: str, limit: int, at_form: str) -> None:
    aggregates = read(out, "aggregates")
    # The busiest moment of the 60 s window: well inside the data, with mints active in every window.
    busiest = aggregates.sort(["buy_count_60s", "ts"], descending=True).get_column("ts")[0]
    at_text = {"iso": iso(busiest), "unix": str(busiest), "between ticks": str(busiest + 2)}[at_form]
    answer = solflow_json("top", "--out", out, "--window", window, "--by", by, "--limit", limit, "--at", at_text)
    at = busiest + 2 if at_form == "between ticks" else busiest
    assert answer["at"] == at
    check_top(answer, out, window, by, limit, at)
    assert answer["mints"]


def test_top_table_lists_the_leaders(out: Path) -> None:
    leaders = expected_top(out, 300, "net_flow", 3, read(out, "aggregates").get_column("ts").max())
    result = solflow("top", "--out", out, "--limit", "3", "--wide")
    assert result.returncode == 0 and result.stderr == ""
    assert "Top mints by net flow in 5 min" in result.stdout
    for header in ("net SOL", "buys", "sells", "bought SOL", "sold SOL", "wallets", "bots", "DCA", "last trade"):
        assert header in result.stdout
    positions = [result.stdout.index(row["mint"]) for row in leaders]
    assert positions == sorted(positions)
    # 80 columns: each leader by its name (else symbol, else short mint), its price, market cap,
    # progress and score as the JSON has them
    narrow = solflow("top", "--out", out, "--limit", "3")
    assert "bought SOL" not in narrow.stdout
    shown = solflow_json("top", "--out", out, "--limit", "3")["mints"]
    lines = [line for line in narrow.stdout.splitlines() if re.match(r"\s+[123] ", line)]
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    for line, row in zip(lines, shown, strict=True):
        label = row["token_name"] or row["token_symbol"] or f"{row['mint'][:4]}…{row['mint'][-4:]}"
        assert label[:8] in line, (label, line)
        cells = line.split()
        at = cells.index(f"{row['price_sol']:.3g}")
        missing = lambda value, text: "–" if value is None else text  # noqa: E731
        assert cells[at + 1 : at + 8] == [
            f"{row['net_flow_sol']:+,.2f}",
            f"{row['buy_count']}/{row['sell_count']}",
            str(row["unique_wallets"]),
            str(row["dca_buys"]),
            missing(row["market_cap_sol"], f"{row['market_cap_sol'] or 0:,.1f}"),
            missing(row["bonding_progress"], f"{(row['bonding_progress'] or 0) * 100:.0f}%"),
            missing(row["persistence_score"], str(row["persistence_score"])),
        ], line
    assert any(row["token_name"] for row in shown) and any(row["market_cap_sol"] for row in shown)


def test_tables_fit_80_columns_and_wide_shows_everything(out: Path) -> None:
    mint = busiest_mint(out)
    commands = [("top",), ("top", "--window", "14400", "--limit", "50"), ("signals", "--since", "0"), ("trace", mint)]
    for command in commands:
        narrow = solflow(*command, "--out", out)
        assert narrow.returncode == 0 and narrow.stderr == "", narrow.stderr
        widths = [len(line) for line in narrow.stdout.splitlines()]
        assert max(widths) <= 80, (command, max(widths))
        wide = solflow(*command, "--out", out, "--wide")
        assert max(len(line) for line in wide.stdout.splitlines()) > 80, command
    signature = read(out, "trades").filter(pl.col("mint") == mint).sort("block_time").get_column("signature")[-1]
    assert signature in solflow("trace", mint, "--out", out, "--wide").stdout


def test_commands_read_solflow_out_unless_out_is_given(out: Path, tmp_path: Path) -> None:
    expected = solflow_json("top", "--out", out)
    from_env = solflow("top", "--json", cwd=tmp_path, SOLFLOW_OUT=str(out))
    assert from_env.returncode == 0, from_env.stderr
    assert json.loads(from_env.stdout) == expected
    overridden = solflow("top", "--json", "--out", out, cwd=tmp_path, SOLFLOW_OUT=str(tmp_path / "elsewhere"))
    assert json.loads(overridden.stdout) == expected
    missing = solflow("signals", cwd=tmp_path, SOLFLOW_OUT=str(tmp_path / "elsewhere"))
    assert str(tmp_path / "elsewhere") in one_error_line(missing, "signals")


def test_no_color_turns_colours_off(out: Path) -> None:
    coloured = solflow("signals", "--out", out, "--since", "0", FORCE_COLOR="1")
    assert COLOUR.search(coloured.stdout), "a forced terminal shows signal states in colour"
    plain = solflow("signals", "--out", out, "--since", "0", FORCE_COLOR="1", NO_COLOR="1")
    assert plain.returncode == 0 and "FOC" in plain.stdout
    assert not COLOUR.search(plain.stdout)
    assert not COLOUR.search(solflow("signals", "--out", out, "--since", "0").stdout)  # piped: no colour


@pytest.mark.parametrize(
    "listing",
    [("top",), ("signals", "--since", "0"), ("top", "--json"), ("signals", "--json"), ("decode",)],
    ids=["top", "signals", "top-json", "signals-json", "decode"],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(
    out: Path, repo_root: Path, listing: tuple[str, ...]
) -> None:
    """``solflow signals | head``: the closed pipe is no error of the command's."""
    where = [str(repo_root / "data" / "sample.capture")] if listing == ("decode",) else ["--out", str(out)]
    proc = subprocess.Popen(
        [*CLI, *listing, *where], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == ""


# ---------------------------------------------------------------- trace


def test_trace_json_has_every_trade_row_and_signal_of_the_mint(out: Path) -> None:
    mint = busiest_mint(out)
    assert solflow_json("trace", mint, "--out", out) == expected_trace(out, mint)


def test_trace_table_shows_trades_history_and_signals(out: Path) -> None:
    mint = busiest_mint(out)
    trades = read(out, "trades").filter(pl.col("mint") == mint).sort("block_time", "slot", "tx_index")
    result = solflow("trace", mint, "--out", out, "--limit", "2", "--wide")
    assert result.returncode == 0 and result.stderr == ""
    assert f"mint {mint}" in result.stdout
    assert f"{trades.height} trades" in result.stdout
    assert trades.get_column("signature")[-1] in result.stdout  # the latest trade is among the 2 shown
    assert "Window history" in result.stdout and "Signals" in result.stdout
    if trades.height > 2:
        assert f"latest 2 of {trades.height}" in result.stdout


def test_trace_summary_names_prices_and_scores_the_mint(out: Path) -> None:
    """In 80 columns: a mint launched and graduated in the sample, by its name and symbol, with its
    launch, graduation, price, market cap, progress and persistence score."""
    tokens = read(out, "tokens").sort("ts").group_by("mint").last()
    scored = set(read(out, "scores").get_column("mint"))
    candidates = tokens.filter(pl.col("graduated"), pl.col("token_name").is_not_null(), pl.col("mint").is_in(scored))
    token = candidates.sort("mint").row(0, named=True)
    trace = solflow_json("trace", token["mint"], "--out", out)
    latest, score = trace["history"][-1], trace["score"]
    result = solflow("trace", token["mint"], "--out", out)
    assert result.returncode == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())  # lines wrapped at 80 columns, joined
    assert f"{token['token_name']} ({token['token_symbol']}), launched on {token['launch_program']}" in text
    assert f"graduated at {format_utc(token['migrated_ts'])} UTC" in text
    assert f"price {latest['price']:.4g} SOL, market cap {latest['market_cap']:,.1f} SOL, bonding progress 100%" in text
    assert f"persistence score {score['persistence_score']} ({score['pattern_tag']}, confidence" in text


def test_trace_shows_a_price_in_another_quote_with_its_sol_value(out: Path) -> None:
    """A USDC-quoted mint's price stays in USDC, followed by its value in SOL at the stream's rate."""
    latest = read(out, "aggregates").sort("ts").group_by("mint").last()
    row = latest.filter(pl.col("quote_mint") == USDC_MINT).sort("mint").row(0, named=True)
    result = solflow("trace", row["mint"], "--out", out)
    assert result.returncode == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())
    assert f"price {row['price']:.4g} EPjF…Dt1v ({row['price_sol']:.4g} SOL), market cap" in text


# ---------------------------------------------------------------- signals


def test_signals_since(out: Path) -> None:
    signals = read(out, "signals")
    assert signals.height >= 2, "the sample fires signals"
    since = sorted(signals.get_column("ts").unique())[1]  # leaves out the first tick's signals
    answer = solflow_json("signals", "--out", out, "--since", iso(since))
    expected = signals.filter(pl.col("ts") >= since).sort("ts", "mint", "signal_type")
    assert answer["since"] == since
    assert [(s["ts"], s["mint"], s["signal_type"], s["state"]) for s in answer["signals"]] == list(
        expected.select("ts", "mint", "signal_type", "state").iter_rows()
    )
    by_key = {(s["ts"], s["mint"], s["signal_type"]): s for s in answer["signals"]}
    for row in expected.iter_rows(named=True):
        shown = by_key[(row["ts"], row["mint"], row["signal_type"])]
        for field in ("severity", "score", "window_seconds"):
            assert shown[field] == row[field]
        assert shown["details"] == json.loads(row["details"])


def test_signals_default_is_the_last_hour(out: Path) -> None:
    latest = read(out, "aggregates").get_column("ts").max()
    answer = solflow_json("signals", "--out", out)
    assert (answer["since"], answer["latest_tick"]) == (latest - 3600, latest)
    expected = read(out, "signals").filter(pl.col("ts") >= latest - 3600)
    assert len(answer["signals"]) == expected.height
    table = solflow("signals", "--out", out, "--since", "0")
    assert table.returncode == 0 and table.stderr == ""
    for signal_type in read(out, "signals").get_column("signal_type").unique():
        assert signal_type in table.stdout


# ---------------------------------------------------------------- plot


def test_plot_writes_a_png(out: Path, tmp_path: Path) -> None:
    from PIL import Image

    mint = busiest_mint(out)
    png = tmp_path / "mint.png"
    answer = solflow_json("plot", mint, "--out", out, "-o", png, "--window", "60")
    history = read(out, "aggregates").filter(pl.col("mint") == mint)
    signals = read(out, "signals").filter(pl.col("mint") == mint)
    assert {k: answer[k] for k in ("path", "mint", "window", "signals", "first_ts")} == {
        "path": str(png),
        "mint": mint,
        "window": 60,
        "signals": signals.height,
        "first_ts": history.get_column("ts").min(),  # its first trade's tick
    }
    assert answer["rows"] > history.height  # the decays between trades are drawn too
    assert answer["last_ts"] >= history.get_column("ts").max()
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 900)
        assert len(image.getcolors(maxcolors=image.width * image.height)) > 10  # drawn, not blank


# ---------------------------------------------------------------- errors and damaged outputs


def test_user_errors_as_users_see_them(out: Path, tmp_path: Path) -> None:
    cases = [
        (("top", "--out", tmp_path / "missing"), "top", "outputs directory"),
        (("signals", "--out", out, "--since", "12:00"), "signals", "bad time '12:00'"),
        (("trace", "NoSuchMint1111111111111111111111111111111", "--out", out), "trace", "has no trades"),
    ]
    for args, command, problem in cases:
        assert problem in one_error_line(solflow(*args), command), args


def test_user_errors_name_the_problem(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same CLI entry point, in this process (a subprocess each would take most of the suite's time)."""
    from solflow.cli.main import main

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() replaces it
    mint = busiest_mint(out)
    cases = [
        (("top", "--out", tmp_path / "missing"), "does not exist (run the flow first"),
        (("top", "--out", tmp_path), "holds no aggregate rows"),
        (("top", "--out", out, "--window", "61"), "window 61 s is not in the data (its windows: 60, 300"),
        (("top", "--out", out, "--window", "five"), "--window must be a whole number, got 'five'"),
        (("top", "--out", out, "--by", "price"), "unknown ranking 'price'; choose one of net_flow, volume"),
        (("top", "--out", out, "--limit", "0"), "--limit must be at least 1"),
        (("top", "--out", out, "--at", "yesterday"), "bad time 'yesterday'"),
        (("top", "--out", out, "--at", "2001-01-01"), "time 2001-01-01 00:00:00 (978307200) is outside the data"),
        (("trace", "NoSuchMint", "--out", out), "mint 'NoSuchMint' has no trades and no aggregate rows"),
        (("trace", mint, "--out", out, "--limit", "-1"), "--limit must be at least 0"),
        (("signals", "--out", out, "--since", "soon"), "bad time 'soon'"),
        (("plot", "NoSuchMint", "--out", out, "-o", tmp_path / "x.png"), "mint 'NoSuchMint' has no trades"),
        (("plot", mint, "--out", out, "-o", tmp_path / "no" / "x.png"), f"directory {tmp_path / 'no'} does not exist"),
        (("plot", mint, "--out", out, "-o", tmp_path / "x.png", "--window", "7"), "window 7 s is not in the data"),
    ]
    for args, problem in cases:
        assert main([str(a) for a in args]) == 2, args
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"solflow {args[0]}: error: {captured.err.split(': error: ', 1)[1]}"
        assert captured.err.count("\n") == 1 and problem in captured.err, (args, captured.err)
    assert not (tmp_path / "x.png").exists()


def test_damaged_duplicated_and_leftover_parts(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    # A second run appended into the same directory repeats every row under new part numbers; a
    # crashed writer leaves a hidden temporary file. Neither changes any answer.
    for dataset in ("trades", "aggregates", "signals"):
        for part in sorted((copy / dataset).glob("date=*/*.parquet")):
            partition, sequence = part.stem.rsplit("-", 1)
            shutil.copy(part, part.with_name(f"{partition}-9{sequence[1:]}.parquet"))
            part.with_name(f".{part.name}.tmp").write_bytes(b"half a part")
    latest = read(out, "aggregates").get_column("ts").max()
    check_top(solflow_json("top", "--out", copy), out, 300, "net_flow", 20, latest)
    mint = busiest_mint(out)
    assert solflow_json("trace", mint, "--out", copy) == expected_trace(out, mint)

    damaged = max((copy / "aggregates").glob("date=*/*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    line = one_error_line(solflow("top", "--out", copy), "top")
    assert f"cannot read {copy / 'aggregates'}" in line
