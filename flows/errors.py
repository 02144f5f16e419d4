"""One clear line instead of a traceback when a run stops on bad input, configuration or a signal.

Errors a source meets mid-run are not raised inside the dataflow (``solflow.run_control``): the run
drains and, on the way out, ``report_at_exit`` prints the error's own message (which names the
file, endpoint or setting) as one line and exits 1. A run stopped by SIGTERM exits 0 (a service's
normal stop) and by SIGINT 130, after one line saying the outputs were flushed.

Bytewax re-raises an error from a source or sink wrapped in ``BytewaxRuntimeError`` chains. When
the chain holds one of SolFlow's user-facing errors -- a bad capture file, a refused or misdirected
Geyser connection, a bad setting, Kafka, S3 or Postgres refusing -- the hook prints that error's own message as one line and exits
1. So does a recovery directory holding the state of a partition this flow does not have (Bytewax
then stops before reading anything). A run aborted by a second signal says so in one line.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from types import TracebackType

from solflow import run_control
from solflow.settings import SettingsError
from solflow.wire import ServiceError, WireError
from sources.capture import CaptureError
from sources.geyser_client import GeyserError

_USER_ERRORS: tuple[type[BaseException], ...] = (CaptureError, GeyserError, SettingsError, ServiceError, WireError)
# How Bytewax 0.21 reports resume state for a partition or key the flow no longer lists.
_UNKNOWN_RECOVERED_KEY = re.compile(r"Key StateKey\(\"(?P<key>[^\"]*)\"\) is not in this worker's routing map")
_reported: list[bool] = []


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


def _say(line: str) -> None:
    _reported.append(True)
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)


def install_excepthook() -> None:
    fallback = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if _interrupted(exc):
            _say("solflow: aborted by a second signal; the outputs may lack the last moments")
            return
        found = run_control.failure() or _user_error(exc) or _stale_recovery(exc)
        if found is None:
            fallback(kind, exc, tb)
            return
        _say(f"solflow: error: {found}")

    sys.excepthook = hook


def report_at_exit() -> None:
    """Once the dataflow has drained: the error that stopped it (exit 1) or the signal (0 / 130).

    A run that Bytewax ended (``python -m bytewax.run``, no exception left) then leaves at once: the
    outputs are closed by then, and tearing down the interpreter -- freeing every module, window and
    buffer one by one -- took 0.1 - 0.15 s of every run (measured, BENCHMARKS.md)."""

    def report() -> None:
        if _reported:
            return
        error, signum = run_control.failure(), run_control.stop_signal()
        if error is not None:
            _say(f"solflow: error: {error}")
            status = 1
        elif signum is not None:
            name = signal.Signals(signum).name
            _say(f"solflow: stopped by {name}; outputs were flushed and closed")
            status = 0 if signum == signal.SIGTERM else 128 + signum
        else:
            status = 0
        if status or _bytewax_returned():
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)  # after an error, the interpreter would exit 0: Bytewax returned normally

    atexit.register(report)


def _bytewax_returned() -> bool:
    """Whether this process is ``python -m bytewax.run`` ending without an exception (an exception
    left unhandled sets ``sys.last_value``; ``SystemExit`` is only raised before the run)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec is not None and spec.name == "bytewax.run" and _built[0] and not hasattr(sys, "last_value")


_built = [False]


def flow_built() -> None:
    """The flow module built its dataflow: from here on the process ends by running it."""
    _built[0] = True
