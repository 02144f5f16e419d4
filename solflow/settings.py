"""One typed settings object, read once from the environment and passed down.

No other module reads environment variables. Each field names its variable and parser in one
line (``_env``), so a new setting is one line here plus a row in README's table. A bad value
raises ``SettingsError``: one line naming the variable and what is wrong with it, never echoing
``X_TOKEN`` (nor a ``GEYSER_URL``, which may carry credentials).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from solflow.control import parse_duration
from solflow.domain.programs import PROGRAM_NAMES
from solflow.domain.windows import DEFAULT_TICK_S, DEFAULT_WINDOWS
from solflow.wire import KafkaTopic, parse_kafka_url

COMMITMENTS = ("processed", "confirmed", "finalized")
DEFAULT_REPLAY = Path("data/sample.capture")
DEFAULT_OUT = Path("out")


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


def _env(variable: str, parse: Callable[[str], Any], default: Any = None, *, shown: bool = True) -> Any:
    """A settings field read from ``variable`` with ``parse``; ``shown=False`` keeps the value out
    of errors and ``repr``. Mutable defaults are copied per instance."""
    metadata = {"variable": variable, "parse": parse, "shown": shown}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, repr=shown, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A Yellowstone endpoint from ``GEYSER_URL``."""

    target: str  # host:port as grpcio wants it (no scheme)
    secure: bool
    display: str  # scheme://host:port, safe to print


def parse_endpoint(url: str) -> Endpoint:
    """``https://host[:port]`` (TLS, port 443 by default) or ``http://host[:port]`` (plaintext, 80);
    ``ValueError`` says what is wrong without repeating a path, query or credentials."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must look like https://host[:port] or http://host[:port] (scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("has no host: expected https://host[:port] or http://host[:port]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not 0 < port < 65536:
        raise ValueError(f"for {parts.scheme}://{host} has an invalid port (expected 1-65535)")
    display = f"{parts.scheme}://{host}:{port}"
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"for {display} must not carry a path, query or credentials: put the token in X_TOKEN")
    return Endpoint(target=f"{host}:{port}", secure=parts.scheme == "https", display=display)


def _url(raw: str) -> str:
    parse_endpoint(raw)
    return raw


def display_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL: safe to print (no path, query or credentials)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _http_url(raw: str) -> str:
    """An ``http(s)://host[:port][/path][?query]`` URL (a path or query may hold an API key)."""
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must look like https://host[/path] or http://host:port[/path]")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"for {parts.scheme}://{parts.hostname} has an invalid port") from None
    return raw


def _token(raw: str) -> str:
    # gRPC metadata values are printable ASCII; anything else fails every call, far from its cause.
    if not all(" " <= c <= "~" for c in raw):
        raise ValueError("must be printable ASCII (it holds a control or non-ASCII character)")
    return raw


def _choice(options: tuple[str, ...], lower: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return value

    return parse


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _at_most(parse: Callable[[str], Any], limit: float, shown: str) -> Callable[[str], Any]:
    """``parse``, refusing a value above ``limit``: far past any use, and beyond what the value ends
    up in (a C int, a timer, a 64-bit timestamp, a loop per unit) can take."""

    def parse_at_most(raw: str) -> Any:
        value = parse(raw)
        if value is not None and value > limit:
            raise ValueError(f"must be at most {shown}")
        return value

    return parse_at_most


def _finite(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _positive_float(raw: str) -> float:
    value = _finite(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = _finite(raw)
    if not value >= 0:
        raise ValueError("must be zero or a positive number")
    return value


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _duration(raw: str) -> int:
    """Seconds in ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` or a sum such as ``1h30m``."""
    return parse_duration(raw)


def _retention(raw: str) -> int | None:
    return None if raw.lower() == "off" else parse_duration(raw)


def _sol_usd(raw: str) -> float | str:
    """A fixed SOL price in USD, or ``stream`` (the stream's own SOL/stablecoin trades)."""
    if raw.lower() == "stream":
        return "stream"
    return _positive_float(raw)


def _port(raw: str) -> int:
    value = _int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return value


def _ip_address(raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ValueError("must be an IP address to listen on, e.g. 127.0.0.1, 0.0.0.0 or ::") from None


def _on_off(raw: str) -> bool:
    value = raw.lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ValueError("expected on or off")


def _compression(raw: str) -> str | None:
    value = raw.lower()
    if value in ("none", "off", "identity"):
        return None
    if value == "gzip":
        return "gzip"
    raise ValueError("expected gzip or none")


def _programs(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in PROGRAM_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown program(s) {unknown}; expected some of " + ", ".join(PROGRAM_NAMES))
    return names


MAX_WINDOW_S = 30 * 86_400
MAX_DURATION_S = 3650 * 86_400


def _windows(raw: str) -> tuple[int, ...]:
    values = sorted({_positive_int(v.strip()) for v in raw.split(",") if v.strip()})
    if not values:
        raise ValueError("expected a comma-separated list of window lengths in seconds")
    if values[-1] > MAX_WINDOW_S:
        raise ValueError(f"a window must be at most {MAX_WINDOW_S} s (30 days)")
    return tuple(values)


def _signal_overrides(raw: str) -> dict[str, float]:
    """``name=value`` pairs separated by commas, e.g. ``breakout.min_net_flow_60s=4.5``."""
    overrides: dict[str, float] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected name=value, got {item.strip()!r}")
        try:
            overrides[name.strip()] = _finite(value)
        except ValueError:
            raise ValueError(f"{name.strip()} needs a finite number, got {value.strip()!r}") from None
    return overrides


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where the flow's results go (``SOLFLOW_SINKS``): the files in ``SOLFLOW_OUT``, a Delta Lake
    root (``trades``, ``aggregates``, ``signals`` tables under it) and a Postgres database."""

    local: bool = True
    delta: str | None = None  # table root URI: s3://BUCKET/PATH, or a local directory
    postgres: str | None = None  # libpq connection URI; may hold a password, never printed


DEFAULT_SINKS = Sinks()
_SINK_SEPARATOR = re.compile(r",(?=\s*(?:local\s*(?:,|$)|delta:|postgres:))")
_DELTA_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss", "file")


def _sinks(raw: str) -> Sinks:
    """``local``, ``delta:URI`` and ``postgres:URI``, comma-separated, each at most once. Errors never
    repeat a Postgres URI (it may hold a password)."""
    chosen: dict[str, Any] = {"local": False}
    for entry in (e.strip() for e in _SINK_SEPARATOR.split(raw)):
        kind, _, target = entry.partition(":")
        kind = kind.strip()
        if kind in chosen and (kind != "local" or chosen["local"]):
            raise ValueError(f"{kind} is named twice")
        if entry == "local":
            chosen["local"] = True
        elif kind == "delta":
            scheme = urlsplit(target).scheme
            if not target or ("://" in target and scheme not in _DELTA_SCHEMES):
                raise ValueError(f"delta:{target} must name a table root: s3://BUCKET/PATH or a directory")
            chosen["delta"] = target
        elif kind == "postgres":
            if not target.startswith(("postgresql://", "postgres://")):
                raise ValueError("postgres: must be followed by a postgresql://USER@HOST:PORT/DATABASE URI")
            chosen["postgres"] = target
        else:
            raise ValueError(f"unknown sink {kind!r}; expected local, delta:URI or postgres:URI")
    return Sinks(**chosen)


@dataclass(frozen=True)
class Settings:
    # Input
    geyser_url: str | None = _env("GEYSER_URL", _url, shown=False)
    x_token: str | None = _env("X_TOKEN", _token, shown=False)
    commitment: str = _env("COMMITMENT_LEVEL", _choice(COMMITMENTS, lower=True), "confirmed")
    layout: str = _env("SOLFLOW_LAYOUT", _choice(("per_program", "single")), "per_program")
    programs: tuple[str, ...] = _env("SOLFLOW_PROGRAMS", _programs, PROGRAM_NAMES)
    buffer_size: int = _env("SOLFLOW_BUFFER", _positive_int, 10_000)
    overflow: str = _env("SOLFLOW_OVERFLOW", _choice(("drop", "block")), "drop")
    grpc_compression: str | None = _env("SOLFLOW_GRPC_COMPRESSION", _compression)  # None | gzip
    grpc_max_message_mb: int = _env(
        "SOLFLOW_GRPC_MAX_MESSAGE_MB", _at_most(_positive_int, 2047, "2047 (gRPC counts bytes in a 32-bit int)"), 64
    )
    stall_timeout_s: float = _env("SOLFLOW_STALL_TIMEOUT_S", _positive_float, 30.0)
    backoff_initial_s: float = _env("SOLFLOW_BACKOFF_INITIAL_S", _at_most(_positive_float, 3600, "3600 (an hour)"), 0.5)
    backoff_max_s: float = _env("SOLFLOW_BACKOFF_MAX_S", _at_most(_positive_float, 3600, "3600 (an hour)"), 30.0)
    replay_path: Path = _env("SOLFLOW_REPLAY", Path, DEFAULT_REPLAY)
    replay_speed: float = _env("SOLFLOW_REPLAY_SPEED", _non_negative_float, 0.0)  # 0 = as fast as possible
    metrics_port: int | None = _env("SOLFLOW_METRICS_PORT", _port)
    metrics_addr: str = _env("SOLFLOW_METRICS_ADDR", _ip_address, "127.0.0.1")
    # Bytewax's own, read as bytewax.run reads them; its -i and -r win (flows.solflow)
    process_id: int = _env("BYTEWAX_PROCESS_ID", _non_negative_int, 0)
    recovery_directory: Path | None = _env("BYTEWAX_RECOVERY_DIRECTORY", Path)
    kafka_input: KafkaTopic | None = _env("SOLFLOW_INPUT", parse_kafka_url)  # a cluster member reads trades here
    # Outputs
    kafka_publish: KafkaTopic | None = _env("SOLFLOW_PUBLISH", parse_kafka_url)  # the ingest: trades to Kafka only
    sinks: Sinks = _env("SOLFLOW_SINKS", _sinks, DEFAULT_SINKS, shown=False)
    out_dir: Path = _env("SOLFLOW_OUT", Path, DEFAULT_OUT)
    pipeline: bool = _env("SOLFLOW_PIPELINE", _on_off, True)
    append: bool = _env("SOLFLOW_APPEND", _on_off, False)
    legacy: str = _env("SOLFLOW_LEGACY", _choice(("jsonl", "sqlite", "both", "off")), "jsonl")
    output_max_size_mb: int = _env("OUTPUT_MAX_SIZE_MB", _positive_int, 100)
    output_max_rotations: int = _env("OUTPUT_MAX_ROTATIONS", _at_most(_positive_int, 1000, "1000 files"), 10)
    # Aggregation
    windows: tuple[int, ...] = _env("SOLFLOW_WINDOWS", _windows, DEFAULT_WINDOWS)
    agg_tick_s: int = _env("SOLFLOW_AGG_TICK", _at_most(_positive_int, 60, "60, the shortest window"), DEFAULT_TICK_S)
    agg_shards: int = _env("SOLFLOW_AGG_SHARDS", _at_most(_positive_int, 1024, "1024 keys"), 4)
    signal_overrides: Mapping[str, float] = _env("SOLFLOW_SIGNALS", _signal_overrides, {})
    progress: str = _env("SOLFLOW_PROGRESS", _choice(("auto", "on", "off")), "auto")
    # Enrichment and alerts
    rpc_url: str | None = _env("SOLFLOW_RPC_URL", _http_url, shown=False)
    rpc_rps: float = _env("SOLFLOW_RPC_RPS", _positive_float, 5.0)
    sol_usd: float | str | None = _env("SOLFLOW_SOL_USD", _sol_usd)  # a fixed price, "stream" or unknown
    alert_webhook: str | None = _env("SOLFLOW_ALERT_WEBHOOK", _http_url, shown=False)
    alert_format: str = _env("SOLFLOW_ALERT_FORMAT", _choice(("auto", "discord", "json"), lower=True), "auto")
    alert_cooldown_s: int = _env("SOLFLOW_ALERT_COOLDOWN", _at_most(_duration, MAX_DURATION_S, "3650d"), 1800)
    retention_s: int | None = _env(
        "SOLFLOW_RETENTION", _at_most(_retention, MAX_DURATION_S, "3650d (off keeps everything)"), 7 * 86_400
    )  # None: keep everything
    # Logging
    log_format: str = _env("SOLFLOW_LOG_FORMAT", _choice(("text", "json"), lower=True), "text")
    log_level: str = _env("SOLFLOW_LOG_LEVEL", _choice(("debug", "info", "warning", "error"), lower=True), "info")

    def __post_init__(self) -> None:
        if self.backoff_initial_s > self.backoff_max_s:
            raise SettingsError("SOLFLOW_BACKOFF_INITIAL_S must not exceed SOLFLOW_BACKOFF_MAX_S")
        if self.kafka_publish is not None and self.kafka_input is not None:
            raise SettingsError(
                "SOLFLOW_PUBLISH and SOLFLOW_INPUT: a process is the ingest or a cluster member, not both"
            )
        if self.kafka_publish is not None and self.sinks != DEFAULT_SINKS:
            raise SettingsError(
                "SOLFLOW_SINKS: the ingest (SOLFLOW_PUBLISH) writes to Kafka only; set it on the cluster"
            )

    @property
    def legacy_jsonl(self) -> bool:
        return self.legacy in ("jsonl", "both")

    @property
    def legacy_sqlite(self) -> bool:
        return self.legacy in ("sqlite", "both")

    @property
    def endpoint(self) -> Endpoint | None:
        return None if self.geyser_url is None else parse_endpoint(self.geyser_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in fields(cls):
            variable, parse, shown = (setting.metadata[k] for k in ("variable", "parse", "shown"))
            raw = env.get(variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[setting.name] = parse(raw.strip())
            except (ValueError, TypeError) as exc:
                raise SettingsError(f"{variable}={raw!r}: {exc}" if shown else f"{variable}: {exc}") from None
        return cls(**values)

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """Every environment variable a setting is read from."""
        return tuple(setting.metadata["variable"] for setting in fields(cls))
