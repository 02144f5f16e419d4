"""One clear line instead of a traceback when a run stops on bad input or configuration.

Bytewax re-raises an error from a source or sink wrapped in ``BytewaxRuntimeError`` chains. When
the chain holds one of SolFlow's user-facing errors -- a bad capture file, a refused or misdirected
Geyser connection, a bad setting -- the hook prints that error's own message (which names the file,
endpoint or variable) as one line and exits 1. So does a recovery directory holding the state of a
partition this flow does not have (Bytewax then stops before reading anything). A run stopped by
SIGINT/SIGTERM says so in one line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from types import TracebackType

from solflow.settings import SettingsError
from sources.capture import CaptureError
from sources.geyser_client import GeyserError

_USER_ERRORS: tuple[type[BaseException], ...] = (CaptureError, GeyserError, SettingsError)
# How Bytewax 0.21 reports resume state for a partition or key the flow no longer lists.
_UNKNOWN_RECOVERED_KEY = re.compile(r"Key StateKey\(\"(?P<key>[^\"]*)\"\) is not in this worker's routing map")


def _stale_recovery(exc: BaseException | None) -> str | None:
    """The message for a recovery directory written with other partitions, if that is the error."""
    for error in _chain(exc):
        found = _UNKNOWN_RECOVERED_KEY.search(str(error))
        if found:
            return (
                f"the recovery directory holds state of partition {found['key']!r}, which this flow does not have:"
                " it was written with other SOLFLOW_PROGRAMS / SOLFLOW_LAYOUT settings or by another SolFlow"
                " version; go back to those, or start with a fresh one (python -m bytewax.recovery DIR N)"
            )
    return None


def _user_error(exc: BaseException | None) -> BaseException | None:
    """The first user-facing error in ``exc``'s cause/context chain, if any."""
    return next((e for e in _chain(exc) if isinstance(e, _USER_ERRORS)), None)


def _interrupted(exc: BaseException | None) -> bool:
    """SIGINT/SIGTERM: Bytewax re-raises ``KeyboardInterrupt`` (``-w 2+``) or a runtime error
    caused by it (``-w 1``)."""
    return any(isinstance(e, KeyboardInterrupt) for e in _chain(exc))


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def install_excepthook() -> None:
    fallback = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if _interrupted(exc):
            print("solflow: stopped by a signal; outputs were flushed and closed", file=sys.stderr, flush=True)
            return
        found = _user_error(exc) or _stale_recovery(exc)
        if found is None:
            fallback(kind, exc, tb)
            return
        print(f"solflow: error: {found}", file=sys.stderr, flush=True)

    sys.excepthook = hook
