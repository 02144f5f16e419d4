"""One typed settings object, read once from the environment and passed down.

No other module reads environment variables. A bad value raises ``SettingsError`` naming the
variable and what was wrong (never echoing ``X_TOKEN``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from solflow.domain.programs import PROGRAM_NAMES

T = TypeVar("T")

DEFAULT_WINDOWS = (60, 300, 900, 3600, 7200, 14400)
COMMITMENTS = ("processed", "confirmed", "finalized")


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    # Input
    geyser_url: str | None = None
    x_token: str | None = field(default=None, repr=False)
    commitment: str = "confirmed"
    layout: str = "per_program"  # per_program | single
    programs: tuple[str, ...] = PROGRAM_NAMES
    buffer_size: int = 10_000
    overflow: str = "drop"  # drop | block
    grpc_compression: str | None = None  # None | gzip
    stall_timeout_s: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    replay_path: Path = Path("data/sample.capture")
    replay_speed: float = 0.0  # 0 = as fast as possible, else x real time
    metrics_port: int | None = None
    # Outputs
    out_dir: Path = Path("out")
    pipeline: bool = True
    legacy: str = "jsonl"  # jsonl | sqlite | both | off
    output_max_size_mb: int = 100
    output_max_rotations: int = 10
    # Aggregation
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    cadence_s: int = 5
    agg_shards: int = 16
    signal_overrides: Mapping[str, float] = field(default_factory=dict)
    progress: str = "auto"  # auto | on | off

    @property
    def legacy_jsonl(self) -> bool:
        return self.legacy in ("jsonl", "both")

    @property
    def legacy_sqlite(self) -> bool:
        return self.legacy in ("sqlite", "both")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        r = _Reader(env)
        settings = cls(
            geyser_url=r.get("GEYSER_URL", None, _url),
            x_token=r.get("X_TOKEN", None, str, secret=True),
            commitment=r.get("COMMITMENT_LEVEL", "confirmed", _choice(COMMITMENTS, lower=True)),
            layout=r.get("SOLFLOW_LAYOUT", "per_program", _choice(("per_program", "single"))),
            programs=r.get("SOLFLOW_PROGRAMS", PROGRAM_NAMES, _programs),
            buffer_size=r.get("SOLFLOW_BUFFER", 10_000, _positive_int),
            overflow=r.get("SOLFLOW_OVERFLOW", "drop", _choice(("drop", "block"))),
            grpc_compression=r.get("SOLFLOW_GRPC_COMPRESSION", None, _compression),
            stall_timeout_s=r.get("SOLFLOW_STALL_TIMEOUT_S", 30.0, _positive_float),
            backoff_initial_s=r.get("SOLFLOW_BACKOFF_INITIAL_S", 0.5, _positive_float),
            backoff_max_s=r.get("SOLFLOW_BACKOFF_MAX_S", 30.0, _positive_float),
            replay_path=r.get("SOLFLOW_REPLAY", Path("data/sample.capture"), Path),
            replay_speed=r.get("SOLFLOW_REPLAY_SPEED", 0.0, _non_negative_float),
            metrics_port=r.get("SOLFLOW_METRICS_PORT", None, _port),
            out_dir=r.get("SOLFLOW_OUT", Path("out"), Path),
            pipeline=r.get("SOLFLOW_PIPELINE", True, _on_off),
            legacy=r.get("SOLFLOW_LEGACY", "jsonl", _choice(("jsonl", "sqlite", "both", "off"))),
            output_max_size_mb=r.get("OUTPUT_MAX_SIZE_MB", 100, _positive_int),
            output_max_rotations=r.get("OUTPUT_MAX_ROTATIONS", 10, _positive_int),
            windows=r.get("SOLFLOW_WINDOWS", DEFAULT_WINDOWS, _windows),
            cadence_s=r.get("SOLFLOW_CADENCE_S", 5, _positive_int),
            agg_shards=r.get("SOLFLOW_AGG_SHARDS", 16, _positive_int),
            signal_overrides=r.get("SOLFLOW_SIGNALS", {}, _signal_overrides),
            progress=r.get("SOLFLOW_PROGRESS", "auto", _choice(("auto", "on", "off"))),
        )
        if settings.backoff_initial_s > settings.backoff_max_s:
            raise SettingsError("SOLFLOW_BACKOFF_INITIAL_S must not exceed SOLFLOW_BACKOFF_MAX_S")
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def get(self, name: str, default: T, parse: Callable[[str], T], secret: bool = False) -> T:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError) as exc:
            shown = "<hidden>" if secret else repr(raw)
            raise SettingsError(f"{name}={shown}: {exc}") from None


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw


def _choice(options: tuple[str, ...], lower: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return value

    return parse


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be zero or a positive number")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return value


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


def _windows(raw: str) -> tuple[int, ...]:
    values = sorted({_positive_int(v.strip()) for v in raw.split(",") if v.strip()})
    if not values:
        raise ValueError("expected a comma-separated list of window lengths in seconds")
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
        overrides[name.strip()] = float(value)
    return overrides
