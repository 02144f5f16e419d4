"""Event times as users type them (unix seconds or ISO-8601), window lengths as the tables show them.

(Times are shown by ``solflow.analysis.outputs.format_utc``, which the outputs' own errors use too.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from solflow.analysis.outputs import AnalysisError

__all__ = ["format_window", "parse_time"]


def parse_time(text: str) -> int:
    """Unix seconds from ``1726647740``, ``2024-09-18T08:22:20Z``, ``2024-09-18 08:22:20+02:00`` or
    ``2024-09-18``; a time without an offset is UTC, like the chain's block times.

    >>> parse_time("2024-09-18T08:22:20Z")
    1726647740
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AnalysisError(
            f"bad time {text!r}: expected unix seconds (1726647740) or ISO-8601 (2024-09-18T08:22:20Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() // 1)


def format_window(seconds: int) -> str:
    """``300`` -> ``"5 min"``, ``3600`` -> ``"1 h"``, ``45`` -> ``"45 s"``."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
