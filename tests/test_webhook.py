"""Alert delivery (``sinks.webhook``) in real Bytewax dataflows against a real local HTTP server that is
dead, then recovers: nothing slows the flow, nothing is lost across a restart, nothing is repeated;
and the cooldown and payloads of ``solflow.domain.alerts``."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from local_http import WebhookServer

import sinks.webhook as webhook
from solflow.domain.alerts import ALERT_FIELDS, AlertGate, alert_row, payload
from solflow.domain.tokens import NO_ENRICHMENT, Enrichment, TokenMetadata


@pytest.fixture
def server():
    receiver = WebhookServer()
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(webhook, "BACKOFF_INITIAL_S", 0.2)
    monkeypatch.setattr(webhook, "CLOSE_GRACE_S", 3.0)


def signal(mint: str, ts: int, kind: str = "BREAKOUT") -> dict[str, Any]:
    return {
        "mint": mint,
        "signal_type": kind,
        "window_seconds": 60,
        "severity": 4,
        "score": 0.71,
        "details": {"net_flow_60s": 6.2, "unique_wallets": 7, "buy_ratio": 0.86},
        "ts": ts,
        "state": "on",
    }


def alerts(*names: str) -> list[dict[str, Any]]:
    meta = TokenMetadata("unused", token_name="Test", token_symbol="TST")
    return [alert_row(signal(name, 1_764_000_000 + i), meta, NO_ENRICHMENT) for i, name in enumerate(names)]


def run_alerts(out: Path, url: str, rows: list[dict[str, Any]], form: str = "json") -> float:
    """One dataflow run sending ``rows`` to the sink; its duration in seconds."""
    flow = Dataflow("alerts")
    items = op.input("in", flow, TestingSource(rows))
    op.output("webhook", op.key_on("key", items, lambda _: "alerts"), webhook.WebhookSink(out, url, form))
    started = time.monotonic()
    run_main(flow)
    return time.monotonic() - started


def stored(out: Path) -> dict[str, tuple[Any, ...]]:
    db = sqlite3.connect(out / webhook.ALERTS_DB)
    try:
        rows = db.execute("SELECT alert_id, attempts, sent_at, last_error, given_up FROM alerts")
        return {row[0]: row[1:] for row in rows}
    finally:
        db.close()


def test_dead_then_recovering_webhook_loses_and_repeats_nothing(server, tmp_path):
    server.fail_next = 10_000  # dead
    first = alerts("A", "B")
    duration = run_alerts(tmp_path, server.url, first)
    assert duration < webhook.CLOSE_GRACE_S + 2  # the flow only waits the grace at its end
    assert server.delivered() == []
    state = stored(tmp_path)
    assert set(state) == {a["alert_id"] for a in first}
    assert all(
        attempts >= 1 and sent_at is None and error == "HTTP 500" for attempts, sent_at, error, _ in state.values()
    )

    server.fail_next = 0  # back; a restart replays the same alerts and one new one
    second = [*first, *alerts("C")]
    second[-1]["alert_id"] = "C:BREAKOUT:late"
    run_alerts(tmp_path, server.url, second)
    delivered = [body["alert_id"] for body in server.delivered()]
    assert sorted(delivered) == sorted(a["alert_id"] for a in second)  # each exactly once
    state = stored(tmp_path)
    assert all(sent_at is not None and error is None for _, sent_at, error, _ in state.values())
    assert state[first[0]["alert_id"]][0] >= 2  # failed at least once, then sent

    run_alerts(tmp_path, server.url, second)  # a third run of the same input
    assert len(server.delivered()) == len(second)


def test_a_hanging_webhook_does_not_hold_the_flow(server, tmp_path):
    server.delay_s = 30
    duration = run_alerts(tmp_path, server.url, alerts("A"))
    assert duration < webhook.CLOSE_GRACE_S + 2
    assert stored(tmp_path)["A:BREAKOUT:1764000000"][1] is None


def test_discord_payload(server, tmp_path):
    rows = alerts("So1aNaMint")
    run_alerts(tmp_path, server.url, rows, form="discord")
    (body,) = server.delivered()
    (embed,) = body["embeds"]
    assert embed["title"] == "BREAKOUT · Test (TST)"
    assert embed["footer"]["text"] == rows[0]["alert_id"]
    assert embed["timestamp"] == "2025-11-24T16:00:00+00:00"
    assert {f["name"]: f["value"] for f in embed["fields"]}["severity"] == "4"
    assert body["allowed_mentions"] == {"parse": []}


def test_alert_forms_by_url():
    assert webhook.alert_form("https://discord.com/api/webhooks/1/x", "auto") == "discord"
    assert webhook.alert_form("https://hooks.example.com/x", "auto") == "json"
    assert webhook.alert_form("https://discord.com/api/webhooks/1/x", "json") == "json"


def test_json_payload_has_every_field():
    enrichment = NO_ENRICHMENT._replace(price_sol=2.5e-8, market_cap_sol=25.0, bonding_progress=0.4)
    assert isinstance(enrichment, Enrichment)
    row = alert_row(signal("M", 100), None, enrichment)
    body = payload(row, "json")
    assert list(body) == list(ALERT_FIELDS)
    assert (body["alert_id"], body["token_name"], body["market_cap_sol"], body["bonding_progress"]) == (
        "M:BREAKOUT:100",
        None,
        25.0,
        0.4,
    )


def test_cooldown_is_per_mint_and_on_event_time():
    gate = AlertGate(cooldown_s=1800)
    assert gate.admit("A", 1000)
    assert not gate.admit("A", 2799)  # another signal of A within 30 min of chain time
    assert gate.admit("B", 2799)
    assert gate.admit("A", 2800)
    gate.prune(4601)
    assert gate.admit("B", 4601)
