"""``solflow dashboard``: serve the live web page of a flow's ``solflow.db`` until SIGINT/SIGTERM (exit 0).

``--db postgresql://…`` serves a cluster's Postgres tables instead, through a local SQLite copy in
``--out`` that follows every commit (``solflow.dashboard.postgres``).

The first line on stdout is ``dashboard: http://HOST:PORT/`` (with ``--port 0``, the port picked);
the socket is listening when it is printed. The database is opened read-only and may not exist yet
(the page says "waiting"); blocks and follows go to ``control.db`` next to it. A database that is
not SolFlow's, or an address that cannot be bound: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import uvicorn

from solflow.cli.main import CliError
from solflow.cli.output import add_out_argument, outputs_dir
from solflow.dashboard.app import create_app

POSTGRES_COPY = "postgres-copy.db"  # the local copy of a cluster's Postgres tables, in --out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    parser.add_argument(
        "--db",
        metavar="PATH|URI",
        help="the pipeline database (default: DIR/solflow.db), or a cluster's Postgres: postgresql://USER@HOST/DB",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on; 0 picks a free one (default 8787)")


def run(args: argparse.Namespace) -> int:
    postgres = args.db is not None and args.db.startswith(("postgresql://", "postgres://"))
    if args.db is not None and args.out is not None and not postgres:
        raise CliError("give --out DIR or --db PATH, not both")
    mirror = None
    if postgres:
        from solflow.dashboard.postgres import PostgresMirror

        out = outputs_dir(args)
        out.mkdir(parents=True, exist_ok=True)
        mirror = PostgresMirror(args.db, out / POSTGRES_COPY)
        mirror.start()
        db_path, source = mirror.path, f"{mirror.shown} (copied to {mirror.path})"
    else:
        db_path = Path(args.db) if args.db is not None else outputs_dir(args) / "solflow.db"
        _check_database(db_path)
        source = str(db_path)
    try:
        app = create_app(db_path, out=db_path.parent)
        sock = _listen(args.host, args.port)
        host, port = sock.getsockname()[:2]
        print(f"dashboard: http://{f'[{host}]' if ':' in host else host}:{port}/", flush=True)
        print(f"reading {source} (read-only); blocks and follows go to {db_path.parent / 'control.db'}", flush=True)
        # log_config=None: uvicorn's records go to the process's logging (solflow.logs), not its own handlers.
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
        server = _Server(config, on_exit=app.state.hub.close)
        server.run(sockets=[sock])
    finally:
        if mirror is not None:
            mirror.close()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT/SIGTERM with exit status 0 (uvicorn's own handler re-raises
    the signal once it has shut down, which would end the process with 130/143)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]):
        super().__init__(config)
        self._on_exit = on_exit

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.force_exit = self.should_exit  # a second Ctrl-C does not wait for anything
        self.should_exit = True
        self._on_exit()  # end the event streams, or the shutdown would wait for them


def _check_database(db_path: Path) -> None:
    """A file that exists must be SolFlow's (an empty one is the flow creating it)."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return
    from sinks.sqlite import NotASolflowDatabase, open_db

    try:
        open_db(db_path).close()
    except (NotASolflowDatabase, sqlite3.DatabaseError) as exc:
        raise CliError(str(exc)) from None


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
