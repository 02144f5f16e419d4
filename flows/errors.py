"""One clear line instead of a traceback when a run stops on bad input or configuration.

Bytewax re-raises an error from a source or sink wrapped in ``BytewaxRuntimeError`` chains. When
the chain holds one of SolFlow's user-facing errors -- a bad capture file, a refused or misdirected
Geyser connection, a bad setting -- the hook prints that error's own message (which names the file,
endpoint or variable) as one line and exits 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from types import TracebackType

from solflow.settings import SettingsError
from sources.capture import CaptureError
from sources.geyser_client import GeyserError

USER_ERRORS: tuple[type[BaseException], ...] = (CaptureError, GeyserError, SettingsError)


def user_error(exc: BaseException | None) -> BaseException | None:
    """The first user-facing error in ``exc``'s cause/context chain, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, USER_ERRORS):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def install_excepthook() -> None:
    fallback = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        found = user_error(exc)
        if found is None:
            fallback(kind, exc, tb)
            return
        print(f"solflow: error: {found}", file=sys.stderr, flush=True)

    sys.excepthook = hook
