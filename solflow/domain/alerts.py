"""Which signals become alerts, and what an alert says (``SOLFLOW_ALERT_WEBHOOK``).

Every signal that turns on is a candidate; a mint alerts at most once per cooldown
(``SOLFLOW_ALERT_COOLDOWN``, 30 min by default) of event time, so the decision depends only on the
signal rows -- the same at any worker count, after a restart (the gate is part of the shard's state)
and on a replay. An alert's ``alert_id`` (``mint:signal_type:ts``) is its identity: a delivery
that is repeated (a replay, a crash before the sent mark was stored) carries the same id, so a
receiver can drop the duplicate.

Two payload forms: Discord's webhook JSON (an embed per alert; ``discord``) and a plain JSON object
with every alert field (``json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from solflow.domain.tokens import Enrichment, TokenMetadata

DEFAULT_COOLDOWN_S = 1800
ALERT_FIELDS: tuple[str, ...] = (
    "alert_id",
    "mint",
    "token_name",
    "token_symbol",
    "signal_type",
    "window_seconds",
    "severity",
    "score",
    "details",
    "ts",
    "price_sol",
    "market_cap_sol",
    "bonding_progress",
)
_DISCORD_COLOURS = {5: 0xE5484D, 4: 0xF76B15, 3: 0xFFC53D, 2: 0x3E63DD}


class AlertGate:
    """The per-mint cooldown of one shard: ``admit`` says whether a signal that turned on alerts."""

    def __init__(self, cooldown_s: int = DEFAULT_COOLDOWN_S):
        self.cooldown_s = cooldown_s
        self._last: dict[str, int] = {}  # mint -> time of its latest alert

    def admit(self, mint: str, ts: int) -> bool:
        last = self._last.get(mint)
        if last is not None and ts - last < self.cooldown_s:
            return False
        self._last[mint] = ts
        return True

    def prune(self, now: int) -> None:
        """Forget mints whose cooldown is over (they would be admitted anyway)."""
        self._last = {mint: ts for mint, ts in self._last.items() if now - ts < self.cooldown_s}


def alert_row(signal: Mapping[str, Any], meta: TokenMetadata | None, enrichment: Enrichment) -> dict[str, Any]:
    """The alert for a signal row that turned on, with the token's names and price at that tick."""
    mint, kind, ts = signal["mint"], signal["signal_type"], signal["ts"]
    return {
        "alert_id": f"{mint}:{kind}:{ts}",
        "mint": mint,
        "token_name": None if meta is None else meta.token_name,
        "token_symbol": None if meta is None else meta.token_symbol,
        "signal_type": kind,
        "window_seconds": signal["window_seconds"],
        "severity": signal["severity"],
        "score": signal["score"],
        "details": dict(signal["details"]),
        "ts": ts,
        "price_sol": enrichment.price_sol,
        "market_cap_sol": enrichment.market_cap_sol,
        "bonding_progress": enrichment.bonding_progress,
    }


def payload(alert: Mapping[str, Any], form: str) -> dict[str, Any]:
    """The JSON body to POST for ``alert`` in ``form`` (``discord`` or ``json``)."""
    if form == "json":
        return {name: alert[name] for name in ALERT_FIELDS}
    if form != "discord":
        raise ValueError(f"unknown alert form {form!r}")
    token = alert["token_name"] or alert["mint"]
    if alert["token_symbol"]:
        token = f"{token} ({alert['token_symbol']})"
    fields = [
        {"name": "severity", "value": str(alert["severity"]), "inline": True},
        {"name": "score", "value": _number(alert["score"], 2), "inline": True},
        {"name": "price", "value": _sol(alert["price_sol"], 10), "inline": True},
        {"name": "market cap", "value": _sol(alert["market_cap_sol"], 1), "inline": True},
        {"name": "bonding progress", "value": _percent(alert["bonding_progress"]), "inline": True},
        {"name": "details", "value": json.dumps(alert["details"], separators=(", ", ": ")), "inline": False},
    ]
    embed = {
        "title": f"{alert['signal_type']} · {token}"[:256],
        "description": f"`{alert['mint']}`",
        "color": _DISCORD_COLOURS.get(alert["severity"] or 0, 0x8B8D98),
        "fields": fields,
        "timestamp": datetime.fromtimestamp(alert["ts"], UTC).isoformat(),
        "footer": {"text": alert["alert_id"]},
    }
    return {"username": "SolFlow", "content": None, "embeds": [embed], "allowed_mentions": {"parse": []}}


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _sol(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}g} SOL"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"
