"""The dashboard's web application (Starlette): the page, the JSON API and the Server-Sent Events stream.

=========================== ======= ===================================================================
path                        method  answer
=========================== ======= ===================================================================
``/``                       GET     the page (``static/index.html``; its script and style under ``/static``)
``/api/tokens``             GET     the token table (``view.read_tokens``; parameters: ``view.Query``)
``/api/stream``             GET     ``text/event-stream`` of the same table: a ``snapshot`` event on
                                    connect and another after every commit or block/follow change that
                                    alters it (polled every ``poll_interval_s``); a comment every 15 s
``/api/token/{mint}``       GET     one mint (``view.read_token``); 404 if unknown
``/api/signals``            GET     latest signals (``view.read_signals``)
``/api/blocklist``          GET     every block, with ``active`` at the current chain time
``/api/block``              POST    ``{"mint", "reason"?, "for"?: "24h"}``: block (``solflow block``)
``/api/unblock``            POST    ``{"mint"}``; 404 if it was not blocked
``/api/follow``             POST    ``{"mint"}``
``/api/unfollow``           POST    ``{"mint"}``; 404 if it was not followed
``/api/health``             GET     status, database path, chain time, clients
=========================== ======= ===================================================================

Every JSON answer about the data carries ``status`` (waiting | live | stale), ``problem``, ``lag_s``
and ``last_commit_age_s`` (``watch.PipelineWatcher.meta``). Bad parameters get 400 with
``{"error": "..."}``. The POST endpoints take only ``application/json`` bodies, so another web page
cannot make a browser post to them without a CORS pre-flight, which this server never grants.
Blocks and follows go to the control store (``solflow.control``); ``solflow.db`` is only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from solflow.control import (
    ControlError,
    ControlStore,
    check_mint,
    parse_duration,
    pipeline_clock,
)
from solflow.dashboard.view import Control, Query, UnknownMint, ViewError, read_signals, read_token, read_tokens
from solflow.dashboard.watch import PipelineWatcher

__all__ = ["Hub", "create_app"]

KEEPALIVE_S = 15.0


class Hub:
    """Polls the watcher, tells waiting streams when something changed, and caches the views of
    the current generation (many pages with the same parameters cost one query)."""

    def __init__(self, watcher: PipelineWatcher, poll_interval_s: float):
        self.watcher = watcher
        self.poll_interval_s = poll_interval_s
        self.clients = 0
        # Set, and replaced by a fresh one, whenever a poll found a change: a broadcast to every stream.
        self._changed = asyncio.Event()
        self._poke = asyncio.Event()
        self._closed = False
        self._cache: tuple[int, dict[Query, dict[str, Any]]] = (-1, {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-watch")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Poll once (so the first answers already see the data), then keep polling until ``stop``.

        Polls run in one thread of their own: the watcher's connection stays in the thread that made
        it, and a slow disk never stalls the event loop."""
        self._loop = asyncio.get_running_loop()
        await self.poll()
        self._task = asyncio.create_task(self._poll_until_closed())

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self.watcher.close)
        self._thread.shutdown()

    async def poll(self) -> None:
        """Look at the databases now."""
        if await asyncio.get_running_loop().run_in_executor(self._thread, self.watcher.poll):
            self._notify()

    async def _poll_until_closed(self) -> None:
        while not self._closed:
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.poll_interval_s)
            await self.poll()

    def close(self) -> None:
        """End every stream (safe to call from a signal handler)."""
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        self._notify()
        self._poke.set()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> int | None:
        """The generation once it is past ``seen`` (or the timeout passed); ``None`` once closed."""
        changed = self._changed  # taken before the check: a change after it sets this one
        if not self._closed and self.watcher.generation <= seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return None if self._closed else self.watcher.generation

    async def tokens(self, query: Query) -> dict[str, Any]:
        generation = self.watcher.generation
        cached_generation, cache = self._cache
        if cached_generation == generation and query in cache:
            return cache[query]
        answer = await self.read(lambda db, control: read_tokens(db, control, query, self.watcher.history))
        answer = self.watcher.meta() | answer
        if self._cache[0] != generation:
            self._cache = (generation, {})
        self._cache[1][query] = answer
        return answer

    async def read(self, reader: Callable[[Any, Control], dict[str, Any]]) -> dict[str, Any]:
        """``reader(db, control)`` on a fresh read-only connection, in a worker thread."""
        return await to_thread.run_sync(self.watcher.read, reader)


def create_app(db_path: Path, out: Path | None = None, *, poll_interval_s: float = 0.25) -> Starlette:
    """The dashboard of the pipeline database ``db_path`` (``out``: its outputs directory, for the
    sparklines' Parquet history and the Parquet trades)."""
    watcher = PipelineWatcher(db_path, out=out)
    hub = Hub(watcher, poll_interval_s)
    static = files("solflow.dashboard") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def tokens(request: Request) -> Response:
        return _json(await hub.tokens(Query.from_params(request.query_params)))

    async def stream(request: Request) -> Response:
        query = Query.from_params(request.query_params)

        async def events() -> AsyncIterator[str]:
            hub.clients += 1
            try:
                sent: Any = None
                seen = -1
                while (generation := await hub.wait(seen, KEEPALIVE_S)) is not None:
                    if generation == seen:
                        yield ": keep-alive\n\n"
                        continue
                    seen = generation
                    answer = await hub.tokens(query)
                    content = {k: v for k, v in answer.items() if k not in ("lag_s", "last_commit_age_s")}
                    if content != sent:
                        sent = content
                        yield f"event: snapshot\nid: {generation}\ndata: {_dumps(answer)}\n\n"
            finally:
                hub.clients -= 1

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def token(request: Request) -> Response:
        mint = request.path_params["mint"]
        answer = await hub.read(lambda db, control: read_token(db, control, mint, out, watcher.history))
        return _json(watcher.meta() | answer)

    async def signals(request: Request) -> Response:
        params = dict(request.query_params)
        return _json(watcher.meta() | await hub.read(lambda db, control: read_signals(db, control, params)))

    async def blocklist(request: Request) -> Response:
        chain_time = watcher.chain_time
        blocks = watcher.control.blocklist.blocks.values()
        return _json({
            "chain_time": chain_time,
            "blocks": [b.as_json() | {"active": chain_time is None or b.active_at(chain_time)} for b in blocks],
        })  # fmt: skip

    async def block(request: Request) -> Response:
        body = await _body(request, {"mint", "reason", "for"})
        mint = check_mint(_text(body, "mint"))
        duration = parse_duration(_text(body, "for")) if body.get("for") else None
        reason = _text(body, "reason") if body.get("reason") else None

        def write() -> dict[str, Any]:
            with ControlStore(watcher.control.path) as store:
                return store.block(
                    mint, at=pipeline_clock(db_path), duration_s=duration, reason=reason, blocked_by="dashboard"
                ).as_json()

        return await _changed_control(hub, write, "blocked")

    async def unblock(request: Request) -> Response:
        mint = _text(await _body(request, {"mint"}), "mint")

        def write() -> dict[str, Any] | None:
            with ControlStore(watcher.control.path) as store:
                lifted = store.unblock(mint)
            return None if lifted is None else lifted.as_json()

        return await _changed_control(hub, write, "unblocked", missing=f"mint {mint} is not blocked")

    async def follow(request: Request) -> Response:
        mint = check_mint(_text(await _body(request, {"mint"}), "mint"))

        def write() -> dict[str, Any]:
            with ControlStore(watcher.control.path) as store:
                return store.follow(mint, at=pipeline_clock(db_path), followed_by="dashboard").as_json()

        return await _changed_control(hub, write, "followed")

    async def unfollow(request: Request) -> Response:
        mint = _text(await _body(request, {"mint"}), "mint")

        def write() -> dict[str, Any] | None:
            with ControlStore(watcher.control.path) as store:
                dropped = store.unfollow(mint)
            return None if dropped is None else dropped.as_json()

        return await _changed_control(hub, write, "unfollowed", missing=f"mint {mint} is not followed")

    async def health(request: Request) -> Response:
        return _json(
            watcher.meta()
            | {"database": str(db_path), "database_exists": db_path.is_file(), "control": str(watcher.control.path),
               "clients": hub.clients}
            | {"chain_time": watcher.chain_time}
        )  # fmt: skip

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _json({"error": str(exc)}, status=404 if isinstance(exc, UnknownMint) else 400)

    routes = [
        Route("/", index),
        Route("/api/tokens", tokens),
        Route("/api/stream", stream),
        Route("/api/token/{mint}", token),
        Route("/api/signals", signals),
        Route("/api/blocklist", blocklist),
        Route("/api/block", block, methods=["POST"]),
        Route("/api/unblock", unblock, methods=["POST"]),
        Route("/api/follow", follow, methods=["POST"]),
        Route("/api/unfollow", unfollow, methods=["POST"]),
        Route("/api/health", health),
        Mount("/static", StaticFiles(packages=[("solflow.dashboard", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={ViewError: bad_request, ControlError: bad_request}
    )
    app.state.hub = hub
    return app


async def _changed_control(
    hub: Hub, write: Callable[[], dict[str, Any] | None], done: str, missing: str | None = None
) -> Response:
    """Run a control-store write, then poll at once: every open page, and the next request, sees it."""
    result = await to_thread.run_sync(write)
    await hub.poll()
    if result is None:
        return _json({"error": missing}, status=404)
    return _json({done: result})


async def _body(request: Request, allowed: set[str]) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ViewError("send a JSON body (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError:
        raise ViewError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ViewError("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ViewError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ViewError(f"{name} must be a non-empty string")
    return value.strip()


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), allow_nan=False)


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(_dumps(document), status_code=status, media_type="application/json")
