"""The dashboard's JSON API (``solflow.dashboard.app``) through Starlette's test client, over the
``solflow.db`` of a real flow run on the sample; every answer is checked against SQL run here on the
same file. (The event stream, the page in a browser and the command are in
``test_dashboard_live.py``.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_flow_support import assert_ok, flow_env, run_flow, sample_capture, wait_until

from sinks.schema import PRICE_COLUMNS
from solflow.dashboard.app import create_app
from solflow.dashboard.watch import STALE_AFTER_S

WINDOWS = (60, 300, 900, 3600, 14400)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of one flow run over the sample, with the SQLite trades table too."""
    out = tmp_path_factory.mktemp("dashboard") / "out"
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_LEGACY="both")))
    return out


@pytest.fixture()
def out(run_out: Path, tmp_path: Path) -> Path:
    """A copy of the run's outputs per test, so blocks and follows start empty."""
    copy = tmp_path / "out"
    copy.mkdir()
    _copy_db(run_out / "solflow.db", copy / "solflow.db")
    for dataset in ("aggregates", "trades", "signals"):
        shutil.copytree(run_out / dataset, copy / dataset)
    return copy


@pytest.fixture()
def client(out: Path) -> Iterator[TestClient]:
    with TestClient(create_app(out / "solflow.db", out=out, poll_interval_s=0.05)) as client:
        yield client


def _copy_db(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


def query(out: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{out / 'solflow.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def listed_mints(out: Path) -> list[tuple[str, float]]:
    """Mints with a trade in the longest window, by 5-minute net flow (then mint), computed here."""
    return query(
        out,
        "SELECT mint, net_flow_300s_sol FROM token_aggregates WHERE buy_count_14400s + sell_count_14400s > 0"
        " ORDER BY net_flow_300s_sol DESC, mint",
    )


def get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post(path, content=json.dumps(body), headers=JSON)
    assert response.status_code == status, response.text
    return response.json()


def test_tokens_are_the_listed_mints_by_five_minute_flow(client: TestClient, out: Path) -> None:
    answer = get(client, "/api/tokens", limit=10)
    expected = listed_mints(out)
    [(chain_time,)] = query(out, "SELECT max(ts) FROM token_aggregates")
    assert answer["chain_time"] == chain_time
    assert answer["status"] in ("live", "stale")  # the run just finished: live for up to 30 s
    assert answer["counts"]["active"] == answer["counts"]["matching"] == len(expected) > 10
    assert [(t["mint"], t["nf_300"]) for t in answer["tokens"]] == expected[:10]
    assert answer["windows"] == list(WINDOWS)
    [(signals,)] = query(out, "SELECT count(*) FROM token_signals WHERE state = 'on' AND ts > ?", chain_time - 3600)
    assert answer["counts"]["signals_1h"] == signals > 0

    top = answer["tokens"][0]
    [row] = query(
        out,
        "SELECT programs, net_flow_60s_sol, net_flow_3600s_sol, buy_count_300s, sell_count_300s,"
        " unique_wallets_300s, bot_wallets_300s, dca_buys_3600s, first_ts FROM token_aggregates WHERE mint = ?",
        top["mint"],
    )
    assert (",".join(top["programs"]), top["nf_60"], top["nf_3600"], top["buys_300"], top["sells_300"],
            top["wallets_300"], top["bot_wallets_300"], top["dca_buys_3600"]) == row[:8]  # fmt: skip
    created = query(out, "SELECT created_ts FROM token_metadata WHERE mint = ? AND created_ts IS NOT NULL", top["mint"])
    if created:  # launched in the sample: its age counts from the creation
        assert (top["age_s"], top["age_from"]) == (chain_time - created[0][0], "created")
    else:
        assert (top["age_s"], top["age_from"]) == (chain_time - row[8], "first_seen")
    assert len(top["spark"]) == 30 and top["spark"][-1] == top["nf_300"]

    # Active signals: the types whose latest row for the mint is "on".
    for token in answer["tokens"]:
        latest = query(
            out,
            "SELECT signal_type, state FROM token_signals t WHERE mint = ? AND ts ="
            " (SELECT max(ts) FROM token_signals u WHERE u.mint = t.mint AND u.signal_type = t.signal_type)",
            token["mint"],
        )
        assert sorted(s["type"] for s in token["signals"]) == sorted(k for k, state in latest if state == "on")
    assert any(t["signals"] for t in answer["tokens"])


def test_names_prices_progress_scores_and_dca_are_the_flows_own(client: TestClient, out: Path) -> None:
    """Every listed mint's enriched fields as the flow wrote them: names and graduation from
    ``token_metadata``, price, market cap and progress from ``token_aggregates``, the score from
    ``token_signal_summary``, the DCA sparkline from ``dca_activity_buckets``."""
    answer = get(client, "/api/tokens", limit=500)
    assert all(answer["columns"].values()), answer["columns"]
    chain_time = answer["chain_time"]
    rows = {
        row[0]: row[1:]
        for row in query(
            out,
            "SELECT a.mint, m.token_name, m.token_symbol, m.graduated, a.price_sol, a.price, a.quote_mint,"
            " a.market_cap_sol, a.bonding_progress, s.persistence_score, s.pattern_tag, s.confidence"
            " FROM token_aggregates a LEFT JOIN token_metadata m USING (mint)"
            " LEFT JOIN token_signal_summary s USING (mint)",
        )
    }
    dca = query(
        out,
        "SELECT mint, minute, dca_buys FROM dca_activity_buckets WHERE minute > ?",
        (chain_time // 60 - 60) * 60,
    )
    tokens = answer["tokens"]
    assert len(tokens) == len(listed_mints(out))
    for token in tokens:
        name, symbol, graduated, price_sol, price, quote, cap, progress, score, pattern, confidence = rows[
            token["mint"]
        ]
        assert (token["name"], token["symbol"], token["graduated"]) == (
            name, symbol, None if graduated is None else bool(graduated),
        )  # fmt: skip
        assert (token["price_sol"], token["price"], token["quote_mint"]) == (price_sol, price, quote)
        assert (token["market_cap_sol"], token["bonding_progress"]) == (cap, progress)
        assert (token["score"], token["pattern"], token["confidence"]) == (score, pattern, confidence)
        assert token["dca_spark"][-1] == sum(
            n for m, minute, n in dca if m == token["mint"] and minute == chain_time // 60 * 60
        )
        assert sum(token["dca_spark"]) == sum(n for m, _, n in dca if m == token["mint"])
    assert sum(1 for t in tokens if t["name"]) > 20 and sum(1 for t in tokens if t["graduated"]) >= 2
    assert sum(1 for t in tokens if t["score"] is not None) > 5 and any(sum(t["dca_spark"]) for t in tokens)
    assert all(t["price"] > 0 for t in tokens)
    assert all(0 <= t["bonding_progress"] <= 1 for t in tokens if t["bonding_progress"] is not None)


def test_columns_the_database_does_not_have_are_null_and_said_so(out: Path) -> None:
    """A database of a flow without the token tables (an older SolFlow): the columns are null and
    ``columns`` says they are absent."""
    db = sqlite3.connect(out / "solflow.db")
    for table in ("token_metadata", "token_signal_summary", "dca_activity_buckets"):
        db.execute(f"DROP TABLE {table}")
    for name, _ in PRICE_COLUMNS:
        db.execute(f"ALTER TABLE token_aggregates DROP COLUMN {name}")
    db.commit()
    db.close()
    with TestClient(create_app(out / "solflow.db", out=out)) as client:
        answer = get(client, "/api/tokens", limit=5)
    assert answer["tokens"] and not any(answer["columns"].values())
    for token in answer["tokens"]:
        assert token["name"] is token["price_sol"] is token["bonding_progress"] is token["score"] is None


def test_sort_filter_search_and_paging(client: TestClient, out: Path) -> None:
    expected = listed_mints(out)
    by_token = get(client, "/api/tokens", sort="token", order="asc", limit=500)["tokens"]
    names = dict(query(out, "SELECT mint, coalesce(token_name, token_symbol) FROM token_metadata"))
    ascii_lower = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # SQLite's NOCASE
    by_name = sorted((m for m, _ in expected), key=lambda m: ((names.get(m) or m).translate(ascii_lower), m))
    assert [t["mint"] for t in by_token] == by_name
    assert any(t["name"] for t in by_token), "mints created in the sample are listed by name"

    ascending = get(client, "/api/tokens", sort="nf_300", order="asc", limit=5)["tokens"]
    assert [(t["mint"], t["nf_300"]) for t in ascending] == sorted(expected, key=lambda r: (r[1], r[0]))[:5]

    buys = [t["buys_300"] for t in get(client, "/api/tokens", sort="buys", limit=500)["tokens"]]
    assert buys == sorted(buys, reverse=True)

    pumpswap = get(client, "/api/tokens", program="pumpswap,moonshot", limit=500)
    [(count,)] = query(
        out,
        "SELECT count(*) FROM token_aggregates WHERE buy_count_14400s + sell_count_14400s > 0"
        " AND (',' || programs || ',' LIKE '%,pumpswap,%' OR ',' || programs || ',' LIKE '%,moonshot,%')",
    )
    assert pumpswap["counts"]["matching"] == len(pumpswap["tokens"]) == count > 0
    assert all({"pumpswap", "moonshot"} & set(t["programs"]) for t in pumpswap["tokens"])

    dca = get(client, "/api/tokens", dca=1, limit=500)
    [(count,)] = query(
        out,
        "SELECT count(*) FROM token_aggregates WHERE buy_count_14400s + sell_count_14400s > 0 AND dca_buys_3600s > 0",
    )
    assert len(dca["tokens"]) == count > 0 and all(t["dca_buys_3600"] > 0 for t in dca["tokens"])

    strong = get(client, "/api/tokens", min_nf300="5", limit=500)["tokens"]
    assert [t["mint"] for t in strong] == [m for m, flow in expected if flow >= 5]

    mint = expected[7][0]
    found = get(client, "/api/tokens", q=mint[3:12].lower())["tokens"]
    assert mint in [t["mint"] for t in found]
    assert all(mint[3:12].lower() in t["mint"].lower() for t in found)
    assert get(client, "/api/tokens", q="%")["tokens"] == []  # LIKE wildcards are literal

    first, second = (get(client, "/api/tokens", limit=7, offset=o)["tokens"] for o in (0, 7))
    assert [t["mint"] for t in first + second] == [m for m, _ in expected[:14]]


def test_bad_parameters_are_400_with_a_reason(client: TestClient) -> None:
    for params, reason in (
        ({"sort": "volume"}, "sort must be one of"),
        ({"order": "up"}, "order must be asc or desc"),
        ({"program": "raydium"}, "unknown program"),
        ({"limit": "0"}, "limit must be between 1 and 500"),
        ({"limit": "x"}, "limit must be a whole number"),
        ({"offset": "-1"}, "offset must be at least 0"),
        ({"min_nf300": "inf"}, "finite"),
        ({"dca": "yes"}, "dca must be 1 or 0"),
        ({"colour": "red"}, "unknown parameter"),
    ):
        for path in ("/api/tokens", "/api/stream"):
            response = client.get(path, params=params)
            assert response.status_code == 400, (path, params, response.text)
            assert reason in response.json()["error"]
    assert client.get("/api/signals", params={"limit": "0"}).status_code == 400


def test_token_detail(client: TestClient, out: Path) -> None:
    mint = listed_mints(out)[0][0]
    detail = get(client, f"/api/token/{mint}")
    assert detail["mint"] == mint and detail["blocked"] is None and detail["followed"] is False
    [row] = query(
        out, "SELECT net_flow_300s_sol, buy_count_3600s, unique_wallets_900s FROM token_aggregates WHERE mint = ?", mint
    )
    windows = {w["window"]: w for w in detail["windows"]}
    assert set(windows) == {60, 300, 900, 3600, 7200, 14400}
    assert (windows[300]["net_flow_sol"], windows[3600]["buy_count"], windows[900]["unique_wallets"]) == row
    assert detail["aggregate"]["mint"] == mint

    signals = query(
        out, "SELECT signal_type, state, ts FROM token_signals WHERE mint = ? ORDER BY ts DESC, id DESC", mint
    )
    assert [(s["signal_type"], s["state"], s["ts"]) for s in detail["signals"]] == signals[:50]

    trades = query(out, "SELECT signature, block_time FROM trades WHERE mint = ? ORDER BY block_time DESC, slot DESC, tx_index DESC LIMIT 20", mint)  # fmt: skip
    assert detail["trades_source"] == "sqlite"
    assert [(t["signature"], t["block_time"]) for t in detail["trades"]] == trades and trades

    missing = client.get("/api/token/So11111111111111111111111111111111111111112")
    assert missing.status_code == 404 and "is not in the database" in missing.json()["error"]
    bad = client.get("/api/token/not-a-mint")
    assert bad.status_code == 400 and "is not a mint address" in bad.json()["error"]


def test_token_detail_trades_from_parquet_without_the_sqlite_table(out: Path) -> None:
    db = sqlite3.connect(out / "solflow.db")
    db.execute("DROP TABLE trades")
    db.commit()
    db.close()
    with TestClient(create_app(out / "solflow.db", out=out)) as client:
        mint = listed_mints(out)[0][0]
        detail = get(client, f"/api/token/{mint}")
    assert detail["trades_source"] == "parquet"
    assert detail["trades"], "the mint traded in the last hour of the sample"
    assert all(t["mint"] == mint for t in detail["trades"])
    times = [t["block_time"] for t in detail["trades"]]
    assert times == sorted(times, reverse=True) and isinstance(times[0], int)


def test_signals(client: TestClient, out: Path) -> None:
    answer = get(client, "/api/signals", limit=1000)
    [(chain_time,)] = query(out, "SELECT max(ts) FROM token_aggregates")
    expected = query(
        out,
        "SELECT mint, signal_type, ts FROM token_signals WHERE state = 'on' AND ts > ? ORDER BY ts DESC, id DESC",
        chain_time - 3600,
    )
    assert [(s["mint"], s["signal_type"], s["ts"]) for s in answer["signals"]] == expected
    assert all(isinstance(s["details"], dict) for s in answer["signals"])
    surges = get(client, "/api/signals", type="SURGE", since=str(chain_time - 120))["signals"]
    assert surges == [s for s in answer["signals"] if s["signal_type"] == "SURGE" and s["ts"] > chain_time - 120]


def test_block_unblock_follow(client: TestClient, out: Path) -> None:
    before = (out / "solflow.db").read_bytes()
    [(chain_time,)] = query(out, "SELECT max(ts) FROM token_aggregates")
    expected = listed_mints(out)
    top, low = expected[0][0], expected[-1][0]

    blocked = post(client, "/api/block", {"mint": top, "reason": "rug", "for": "2h"})["blocked"]
    assert blocked == {"mint": top, "reason": "rug", "blocked_by": "dashboard", "created_at": chain_time,
                       "expires_at": chain_time + 7200, "clock": "chain"}  # fmt: skip
    answer = get(client, "/api/tokens", limit=500)
    assert top not in [t["mint"] for t in answer["tokens"]]
    assert answer["counts"]["blocked"] == 1 and answer["counts"]["active"] == len(expected) - 1
    assert get(client, f"/api/token/{top}")["blocked"]["active"] is True
    assert [b["mint"] for b in get(client, "/api/blocklist")["blocks"] if b["active"]] == [top]
    assert all(s["mint"] != top for s in get(client, "/api/signals", limit=1000)["signals"])
    row = sqlite3.connect(out / "control.db").execute("SELECT blocked_by, reason FROM mint_blocklist").fetchall()
    assert row == [("dashboard", "rug")]

    post(client, "/api/follow", {"mint": low})
    answer = get(client, "/api/tokens", limit=3)
    assert answer["tokens"][0]["mint"] == low and answer["tokens"][0]["followed"] is True
    assert answer["counts"]["followed"] == 1
    post(client, "/api/unfollow", {"mint": low})
    assert get(client, "/api/tokens", limit=1)["tokens"][0]["mint"] == expected[1][0]
    assert "is not followed" in post(client, "/api/unfollow", {"mint": low}, status=404)["error"]

    assert post(client, "/api/unblock", {"mint": top})["unblocked"]["mint"] == top
    assert get(client, "/api/tokens", limit=1)["tokens"][0]["mint"] == top
    assert "is not blocked" in post(client, "/api/unblock", {"mint": top}, status=404)["error"]

    # Only JSON bodies: a form post from another site cannot block anything.
    form = client.post("/api/block", data={"mint": top})
    assert form.status_code == 400 and "JSON" in form.json()["error"]
    assert "unknown field" in post(client, "/api/block", {"mint": top, "colour": 1}, status=400)["error"]
    assert "not a mint address" in post(client, "/api/block", {"mint": "nope"}, status=400)["error"]
    assert "bad duration" in post(client, "/api/block", {"mint": top, "for": "forever"}, status=400)["error"]
    assert client.get("/api/block").status_code == 405
    assert (out / "solflow.db").read_bytes() == before  # the dashboard never writes the flow's database


def test_a_block_made_elsewhere_is_seen_at_once(client: TestClient, out: Path) -> None:
    from solflow.control import Clock, ControlStore

    top = listed_mints(out)[0][0]
    with ControlStore(out / "control.db") as store:
        store.block(top, at=Clock(0, "chain"))
    wait_until(lambda: get(client, "/api/tokens", limit=1)["tokens"][0]["mint"] != top, 5, "the block to be seen")


def test_a_block_survives_a_restart(out: Path) -> None:
    top = listed_mints(out)[0][0]
    with TestClient(create_app(out / "solflow.db", out=out)) as client:
        post(client, "/api/block", {"mint": top})
    with TestClient(create_app(out / "solflow.db", out=out)) as client:
        answer = get(client, "/api/tokens", limit=500)
    assert top not in [t["mint"] for t in answer["tokens"]] and answer["counts"]["blocked"] == 1


def test_waiting_until_the_database_appears(out: Path, tmp_path: Path) -> None:
    later = tmp_path / "later"
    later.mkdir()
    with TestClient(create_app(later / "solflow.db", out=later, poll_interval_s=0.05)) as client:
        waiting = get(client, "/api/tokens")
        assert waiting["status"] == "waiting" and waiting["tokens"] == [] and waiting["chain_time"] is None
        assert "no database" in waiting["problem"]
        health = get(client, "/api/health")
        assert health["database_exists"] is False and health["status"] == "waiting"
        assert client.get("/api/token/So11111111111111111111111111111111111111112").status_code == 404
        assert get(client, "/api/signals")["signals"] == []

        _copy_db(out / "solflow.db", later / "solflow.db")
        wait_until(lambda: get(client, "/api/tokens")["status"] != "waiting", 10, "the database to be seen")
        assert get(client, "/api/tokens", limit=3)["tokens"]


def test_stale_once_the_flow_stopped_committing_and_live_on_its_next_commit(out: Path, tmp_path: Path) -> None:
    """The status is the wall time since the flow's latest commit: a database last written long ago is
    ``stale`` from the start (the dashboard's own read-only open is no commit), a commit makes it
    ``live``, and ``STALE_AFTER_S`` without one turns it ``stale`` again, pushed to open streams."""
    db_path = out / "solflow.db"
    long_ago = time.time() - 600
    os.utime(db_path, (long_ago, long_ago))
    with TestClient(create_app(db_path, out=out, poll_interval_s=0.05)) as client:
        answer = get(client, "/api/tokens", limit=1)
        assert answer["status"] == "stale" and answer["last_commit_age_s"] >= 590, answer
        assert get(client, "/api/health")["status"] == "stale"
        with contextlib.closing(sqlite3.connect(db_path)) as db, db:  # the flow commits
            db.execute(
                "UPDATE token_aggregates SET net_flow_300s_sol = net_flow_300s_sol + 1 WHERE mint = ?",
                (answer["tokens"][0]["mint"],),
            )
        wait_until(lambda: get(client, "/api/tokens", limit=1)["status"] == "live", 10, "the commit to be seen")

    recent = tmp_path / "recent"
    recent.mkdir()
    _copy_db(db_path, recent / "solflow.db")
    quiet_for = STALE_AFTER_S - 8  # written 22 s ago: live now, stale in 8 s without a commit
    os.utime(recent / "solflow.db", (time.time() - quiet_for, time.time() - quiet_for))
    started = time.monotonic()
    statuses = []
    with TestClient(create_app(recent / "solflow.db", out=recent, poll_interval_s=0.05)) as client:
        with client.stream("GET", "/api/stream", params={"limit": 1}) as stream:
            for line in stream.iter_lines():  # a keep-alive comment every 15 s bounds the wait
                if line.startswith("data: "):
                    snapshot = json.loads(line[6:])
                    statuses.append((snapshot["status"], snapshot["chain_time"], round(time.monotonic() - started)))
                if (statuses and statuses[-1][0] == "stale") or time.monotonic() - started > 14:
                    break
    assert [s[:2] for s in statuses] == [("live", answer["chain_time"]), ("stale", answer["chain_time"])], statuses


def test_optional_columns_are_read_when_present(out: Path) -> None:
    """The token tables the flow writes, set here to known values: names, prices, progress, scores
    and DCA minutes reach the table, and its filters use them."""
    mints = [m for m, _ in listed_mints(out)]
    db = sqlite3.connect(out / "solflow.db")
    db.execute("UPDATE token_aggregates SET price_sol = 0.000001 * rowid, market_cap_sol = 1000.0 * rowid,"
               " bonding_progress = min(1.0, 0.01 * rowid)")  # fmt: skip
    [(chain_time,)] = db.execute("SELECT max(ts) FROM token_aggregates").fetchall()
    db.execute("DELETE FROM token_metadata")
    db.executemany(
        "INSERT INTO token_metadata (mint, token_name, token_symbol, created_ts, graduated, launch_program,"
        " supply_raw, ts) VALUES (?, ?, ?, ?, ?, 'pumpfun', 1000000000, ?)",
        [(m, f"Token {i}", f"O0{i}", chain_time - 100 * i, int(i == 1), chain_time) for i, m in enumerate(mints[:5])],
    )
    db.execute("DELETE FROM token_signal_summary")
    db.execute("INSERT INTO token_signal_summary VALUES (?, 7, 'MOMENTUM', 'HIGH', 1, 2, ?)", (mints[0], chain_time))
    db.execute("DELETE FROM dca_activity_buckets")
    db.execute("INSERT INTO dca_activity_buckets VALUES (?, ?, 3, 1.5)", (mints[0], chain_time // 60 * 60))
    db.commit()
    db.close()

    with TestClient(create_app(out / "solflow.db", out=out)) as client:
        answer = get(client, "/api/tokens", limit=5)
        assert all(answer["columns"].values())
        first = answer["tokens"][0]
        assert (first["name"], first["symbol"], first["age_s"], first["age_from"]) == ("Token 0", "O00", 0, "created")
        assert (first["score"], first["pattern"], first["confidence"]) == (7, "MOMENTUM", "HIGH")
        assert first["dca_spark"][-1] == 3 and sum(first["dca_spark"]) == 3
        assert answer["tokens"][1]["graduated"] is True and answer["tokens"][2]["graduated"] is False
        assert all(t["price_sol"] > 0 and 0 <= t["bonding_progress"] <= 1 for t in answer["tokens"])

        assert [t["mint"] for t in get(client, "/api/tokens", q="token 3")["tokens"]] == [mints[3]]
        assert [t["mint"] for t in get(client, "/api/tokens", q="o04")["tokens"]] == [mints[4]]  # O, 0: not base58
        assert mints[1] not in [t["mint"] for t in get(client, "/api/tokens", hide_graduated=1, limit=500)["tokens"]]
        prices = [t["price_sol"] for t in get(client, "/api/tokens", sort="price", limit=500)["tokens"]]
        assert prices == sorted(prices, reverse=True)
        detail = get(client, f"/api/token/{mints[0]}")
        assert detail["metadata"]["supply_raw"] == 1_000_000_000 and detail["summary"]["pattern_tag"] == "MOMENTUM"
        assert get(client, "/api/signals", limit=1000)["signals"][0].keys() >= {"name", "symbol"}


def test_the_page_is_packaged_and_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for test_id in ("status", "chain-time", "token-table", "blocked-open"):
        assert f'data-testid="{test_id}"' in page.text
    script = client.get("/static/app.js")
    style = client.get("/static/style.css")
    assert script.status_code == style.status_code == 200
    assert "javascript" in script.headers["content-type"] and style.headers["content-type"].startswith("text/css")
    for test_id in ("token-row", "token-name", "token-symbol", "price-sol", "mcap-sol", "progress", "signal-badge",
                    "block-button", "follow-button", "blocked-row", "unblock-button"):  # fmt: skip
        assert f'"{test_id}"' in script.text, test_id
    assert 'data-testid": `nf-${w}`' in script.text
    for text in (page.text, script.text, style.text):
        # No CDN: the only absolute URL is the SVG namespace.
        assert set(re.findall(r"https?://[^\s\"'`)]+", text)) <= {"http://www.w3.org/2000/svg"}
