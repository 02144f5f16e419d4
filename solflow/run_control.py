"""How a run stops early: a process-wide stop request, read by every source partition.

A first SIGTERM or SIGINT only asks the sources to stop: each partition hands on what it holds and
ends, so the dataflow drains like at the end of a capture (every sink flushes, the run totals and
the summary match what was written). A second signal aborts at once. An error that ends a source
for good (a refused subscription, a corrupt capture) is recorded here instead of being raised
inside the dataflow -- Bytewax would print a Rust panic banner -- and stops the other partitions
of this process too; ``flows.errors`` reports it as one line once the dataflow has drained.
"""

from __future__ import annotations

import signal
import threading
from time import monotonic
from types import FrameType

_stop = threading.Event()
# "signal": the first signal's number; "error": the first fatal error; "at": monotonic time of the first stop
_state: dict[str, object] = {}


def stop_requested() -> bool:
    return _stop.is_set()


def seconds_since_stop() -> float | None:
    """How long ago the first stop was requested; None while the run goes on."""
    at = _state.get("at")
    return monotonic() - at if isinstance(at, float) else None


def request_stop(signum: int) -> None:
    _state.setdefault("signal", signum)
    _state.setdefault("at", monotonic())
    _stop.set()


def fail(error: Exception) -> None:
    """A source cannot go on: remember the first such error and stop every partition."""
    _state.setdefault("error", error)
    _state.setdefault("at", monotonic())
    _stop.set()


def failure() -> Exception | None:
    error = _state.get("error")
    return error if isinstance(error, Exception) else None


def stop_signal() -> int | None:
    signum = _state.get("signal")
    return signum if isinstance(signum, int) else None


def reset() -> None:
    """Forget a stop and its cause, for another run in the same process (tests)."""
    _state.clear()
    _stop.clear()


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT: the first drains the run, a second one aborts it (``KeyboardInterrupt``)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if _stop.is_set() and stop_signal() is not None:
            raise KeyboardInterrupt
        request_stop(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
