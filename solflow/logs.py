"""Logging, configured once per process from the settings: readable lines for people, JSON for machines.

``configure_logging(settings)`` gives the root logger one stderr handler:

* ``SOLFLOW_LOG_FORMAT=text`` (default): ``2025-11-24T16:05:50Z WARNING sources.live: message``;
* ``SOLFLOW_LOG_FORMAT=json``: one object per line, ``{"time", "level", "logger", "message"}`` and
  ``"exception"`` (the formatted traceback) when there is one;
* at ``SOLFLOW_LOG_LEVEL`` (``debug``, ``info`` -- the default --, ``warning``, ``error``).

Times are the wall clock in UTC (a log says when the process did something; the outputs' times are
chain time). The x-token, the RPC URL and the webhook URL (which may hold keys) never reach the
stream: the message and traceback of every record are searched for them and each occurrence
replaced with ``***`` before they are written. Calling it again
replaces the handler it installed, so a process never logs a line twice.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from solflow.settings import Settings

__all__ = ["REDACTED", "configure_logging"]

REDACTED = "***"
_HANDLER_NAME = "solflow"


def configure_logging(settings: Settings) -> None:
    secrets = tuple(secret for secret in (settings.x_token, settings.rpc_url, settings.alert_webhook) if secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_JsonFormatter(secrets) if settings.log_format == "json" else _TextFormatter(secrets))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())


class _Formatter(logging.Formatter):
    """UTC times; ``redact`` removes the secrets from any text about to be written."""

    def __init__(self, secrets: tuple[str, ...], fmt: str | None = None):
        super().__init__(fmt)
        self._secrets = secrets

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class _TextFormatter(_Formatter):
    def __init__(self, secrets: tuple[str, ...]):
        super().__init__(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class _JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            document["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False)
