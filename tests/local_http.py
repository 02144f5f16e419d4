"""Real HTTP servers on 127.0.0.1 for the enrichment tests, each on its own thread and free port:

* ``JsonRpcServer`` answers Solana JSON-RPC ``getMultipleAccounts`` from a table of accounts (real
  SPL mint and Metaplex metadata layouts, built by ``mint_account`` / ``metaplex_metadata``);
* ``WebhookServer`` receives alert POSTs and can fail a number of them first.

Both record what they received, and can be told to fail (HTTP 500) the next ``fail_next`` requests.
They stop (``close``) when the test ends.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from solflow.domain.token_accounts import metadata_address


def mint_account(supply: int, decimals: int) -> bytes:
    """An initialized SPL mint account (82 bytes) with no authorities."""
    return struct.pack("<I32sQBBI32s", 0, bytes(32), supply, decimals, 1, 0, bytes(32))


def metaplex_metadata(name: str, symbol: str, uri: str) -> bytes:
    """A Metaplex MetadataV1 account, strings NUL-padded to 32 / 10 / 200 bytes as older tokens have them."""
    out = bytes([4]) + bytes(32) + bytes(32)
    for text, size in ((name, 32), (symbol, 10), (uri, 200)):
        raw = text.encode().ljust(size, b"\0")
        out += struct.pack("<I", len(raw)) + raw
    return out + struct.pack("<H", 0) + b"\0"  # seller fee, no creators


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[tuple[float, Any, bool]] = []  # (monotonic time, parsed JSON body, answered 200)
        self.fail_next = 0
        self.delay_s = 0.0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def answer(self, body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def handle_body(self, body: Any) -> tuple[int, Any]:
        with self.lock:
            failing = self.fail_next > 0
            self.requests.append((time.monotonic(), body, not failing))
            if failing:
                self.fail_next -= 1
                return 500, {"error": "failing on purpose"}
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.answer(body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"null")
        status, answer = self.server.handle_body(body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JsonRpcServer(_Server):
    """``getMultipleAccounts`` over ``accounts`` (address -> data bytes) at slot ``slot``."""

    def __init__(self, slot: int = 400_000_000) -> None:
        self.accounts: dict[str, bytes] = {}
        self.slot = slot
        super().__init__()

    def add_token(self, mint: str, name: str, symbol: str, supply: int, decimals: int = 6) -> None:
        self.accounts[mint] = mint_account(supply, decimals)
        self.accounts[metadata_address(mint)] = metaplex_metadata(name, symbol, f"https://example.invalid/{symbol}")

    def keys_asked(self) -> list[list[str]]:
        with self.lock:
            return [body["params"][0] for _, body, _ok in self.requests]

    def answer(self, body: Any) -> tuple[int, Any]:
        if body.get("method") != "getMultipleAccounts":
            return 200, {"jsonrpc": "2.0", "id": body.get("id"), "error": {"code": -32601, "message": "no method"}}
        keys, config = body["params"]
        assert config["encoding"] == "base64"
        value = [
            None
            if key not in self.accounts
            else {
                "data": [base64.b64encode(self.accounts[key]).decode(), "base64"],
                "executable": False,
                "lamports": 1_461_600,
                "owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                "rentEpoch": 0,
                "space": len(self.accounts[key]),
            }
            for key in keys
        ]
        return 200, {"jsonrpc": "2.0", "id": body["id"], "result": {"context": {"slot": self.slot}, "value": value}}


class WebhookServer(_Server):
    """Accepts every POST (after ``fail_next`` failures) with 200."""

    def delivered(self) -> list[Any]:
        """The bodies of the POSTs it accepted, in order."""
        with self.lock:
            return [body for _, body, ok in self.requests if ok]

    def answer(self, body: Any) -> tuple[int, Any]:
        return 200, {}
