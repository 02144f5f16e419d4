"""Alert delivery: the sink that stores every alert in ``<out>/alerts.db`` and posts it to
``SOLFLOW_ALERT_WEBHOOK`` from a background thread.

* ``write_batch`` only stores the alerts (one row per ``alert_id``; an alert stored before is not
  stored again) and wakes the sender, so a slow or dead webhook never slows the flow;
* the sender posts due alerts oldest first. A 2xx answer stores ``sent_at``; anything else (or no
  answer within ``TIMEOUT_S``) counts an attempt, stores ``last_error`` and schedules the next one
  after a backoff of 1 s doubling to 5 min (Discord's ``retry_after`` / ``Retry-After`` on 429);
  after ``MAX_ATTEMPTS`` (about 1.5 h of trying) the alert is ``given_up``;
* a restart neither loses nor repeats alerts: an alert stored but not yet sent is sent by the next
  run (at once: its backoff starts over), and one already stored (sent or not) is never stored twice -- a replay of the same input, or
  a ``-r`` resume that replays it, repeats nothing. (An answer lost between the receiver's 2xx and
  the stored ``sent_at`` -- a crash in between -- is the one case of a repeat; the payload's
  ``alert_id`` lets a receiver drop it.)
* at the end of the run the sender gets ``CLOSE_GRACE_S`` to deliver what is due or comes due (a
  retry) meanwhile; the rest waits in ``alerts.db`` for the next run.

``alerts``: the alert columns (``solflow.domain.alerts.ALERT_FIELDS``; ``details`` as JSON text),
then ``attempts``, ``sent_at`` and ``next_attempt_at`` (wall clock, unix s: delivery is about the
receiver, not the chain), ``last_error``, ``given_up``. The webhook URL holds a secret: logs name
its host only.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from typing_extensions import override

from solflow.domain.alerts import ALERT_FIELDS, payload
from solflow.settings import display_url

if TYPE_CHECKING:  # httpx is imported by the delivery thread: a run without a webhook never pays for it
    import httpx

__all__ = ["ALERTS_DB", "WebhookSink", "alert_form"]

log = logging.getLogger(__name__)

ALERTS_DB = "alerts.db"
TIMEOUT_S = 5.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 300.0
MAX_ATTEMPTS = 25
CLOSE_GRACE_S = 5.0
_DISCORD_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")
_DELIVERY_COLUMNS = (
    "attempts INTEGER NOT NULL DEFAULT 0",
    "sent_at REAL",
    "next_attempt_at REAL NOT NULL DEFAULT 0",
    "last_error TEXT",
    "given_up INTEGER NOT NULL DEFAULT 0",
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, "
    + ", ".join(f"{name}" for name in ALERT_FIELDS[1:])
    + ", "
    + ", ".join(_DELIVERY_COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS alerts_due ON alerts(next_attempt_at) WHERE sent_at IS NULL AND given_up = 0",
)
_INSERT = (
    f"INSERT INTO alerts ({', '.join(ALERT_FIELDS)}) VALUES ({', '.join('?' * len(ALERT_FIELDS))})"
    " ON CONFLICT(alert_id) DO NOTHING"
)
_DUE = (
    f"SELECT {', '.join(ALERT_FIELDS)}, attempts FROM alerts"
    " WHERE sent_at IS NULL AND given_up = 0 AND next_attempt_at <= ? ORDER BY next_attempt_at, ts, alert_id LIMIT 1"
)
_NEXT = "SELECT min(next_attempt_at) FROM alerts WHERE sent_at IS NULL AND given_up = 0"


def alert_form(url: str, form: str) -> str:
    """The payload form for ``url``: ``form`` itself, or for ``auto`` Discord's on a Discord host."""
    if form != "auto":
        return form
    host = (urlsplit(url).hostname or "").lower()
    return "discord" if host in _DISCORD_HOSTS else "json"


def open_alerts(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in _SCHEMA:
        db.execute(statement)
    return db


class WebhookSink(FixedPartitionedSink[dict[str, Any], None]):
    """Items ``(key, alert row)`` → ``<out>/alerts.db`` and the webhook; one partition."""

    def __init__(self, out: Path, url: str, form: str = "auto"):
        self._path = Path(out) / ALERTS_DB
        self._url = url
        self._form = alert_form(url, form)

    @override
    def list_parts(self) -> list[str]:
        return ["alerts"]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _WebhookPartition:
        return _WebhookPartition(self._path, self._url, self._form)


class _WebhookPartition(StatefulSinkPartition[dict[str, Any], None]):
    def __init__(self, path: Path, url: str, form: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = open_alerts(path)
        self._sender = Sender(path, url, form)
        self._sender.start()

    @override
    def write_batch(self, values: list[dict[str, Any]]) -> None:
        rows = [tuple(json.dumps(a[f]) if f == "details" else a[f] for f in ALERT_FIELDS) for a in values]
        self._db.executemany(_INSERT, rows)
        self._sender.wake()

    @override
    def snapshot(self) -> None:
        return None  # every alert is stored as it arrives; a replay's repeats are ignored

    @override
    def close(self) -> None:
        self._sender.stop(CLOSE_GRACE_S)
        self._db.close()


class Sender(threading.Thread):
    """Posts the due alerts of ``alerts.db`` (see the module docstring)."""

    def __init__(self, path: Path, url: str, form: str):
        super().__init__(name="solflow-alerts", daemon=True)
        self._path = path
        self._url = url
        self._where = display_url(url)
        self._form = form
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._failing = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self, grace_s: float) -> None:
        """Deliver what is due for at most ``grace_s``, then stop."""
        self._deadline = time.monotonic() + grace_s
        self._stopping.set()
        self._wake.set()
        self.join(grace_s)  # a post still waiting for a dead receiver is left behind (a daemon thread)

    def run(self) -> None:
        import httpx

        db = open_alerts(self._path)
        try:
            # A new run is a new chance (the receiver may have been fixed): what waits is due at once.
            db.execute("UPDATE alerts SET next_attempt_at = 0 WHERE sent_at IS NULL AND given_up = 0")
            with httpx.Client(timeout=TIMEOUT_S) as client:
                while not (self._stopping.is_set() and time.monotonic() >= self._deadline):
                    row = db.execute(_DUE, (time.time(),)).fetchone()
                    if row is None:
                        (next_at,) = db.execute(_NEXT).fetchone()
                        wait = 60.0 if next_at is None else max(0.0, next_at - time.time())
                        if self._stopping.is_set() and time.monotonic() + wait > self._deadline:
                            break  # nothing comes due within the grace: it waits for the next run
                        self._wake.wait(min(wait, 60.0))
                        self._wake.clear()
                        continue
                    self._deliver(db, client, row)
        except Exception:  # alerts are an extra: a bug here must not stop the flow
            log.exception("alert delivery to %s stopped", self._where)
        finally:
            db.close()

    def _deliver(self, db: sqlite3.Connection, client: httpx.Client, row: tuple[Any, ...]) -> None:
        alert = dict(zip(ALERT_FIELDS, row))
        alert["details"] = json.loads(alert["details"])
        attempts = row[-1] + 1
        error, retry_after = self._post(client, alert)
        now = time.time()
        if error is None:
            db.execute(
                "UPDATE alerts SET sent_at = ?, attempts = ?, last_error = NULL WHERE alert_id = ?",
                (now, attempts, alert["alert_id"]),
            )
            if self._failing:
                log.info("alert webhook %s: delivering again", self._where)
                self._failing = False
            return
        delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (attempts - 1))
        if retry_after is not None:
            delay = max(delay, retry_after)
        given_up = attempts >= MAX_ATTEMPTS
        db.execute(
            "UPDATE alerts SET attempts = ?, last_error = ?, next_attempt_at = ?, given_up = ? WHERE alert_id = ?",
            (attempts, error, now + delay, int(given_up), alert["alert_id"]),
        )
        if given_up:
            log.warning("alert webhook %s: giving up on %s after %d attempts", self._where, alert["alert_id"], attempts)
        elif not self._failing:
            log.warning("alert webhook %s: %s; retrying with backoff (alerts wait in alerts.db)", self._where, error)
            self._failing = True

    def _post(self, client: httpx.Client, alert: Mapping[str, Any]) -> tuple[str | None, float | None]:
        """(error or None, seconds the receiver asked to wait)."""
        import httpx

        headers = {"Idempotency-Key": str(alert["alert_id"])}
        try:
            response = client.post(self._url, json=payload(alert, self._form), headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__, None  # its message may repeat the URL
        if 200 <= response.status_code < 300:
            return None, None
        return f"HTTP {response.status_code}", _retry_after(response)


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("retry-after")
    try:
        if header is not None:
            return max(0.0, float(header))
        if response.status_code == 429:
            return max(0.0, float(response.json().get("retry_after", 0)))
    except (ValueError, AttributeError):
        pass
    return None
