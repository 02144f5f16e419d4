"""The official Yellowstone TypeScript client (@triton-one/yellowstone-grpc) against ``solflow serve``.

Runs ``npm install`` in ``scripts/ts_interop`` once (``node_modules`` stays there as the cache),
then the script that subscribes with the client's usual request shape and counts what arrives.
Skips with the reason when node/npm are missing or the install cannot reach the registry.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from protos import geyser_pb2

SOLFLOW = str(Path(sys.executable).with_name("solflow"))
WAIT_S = 60.0  # hang guard only
INSTALL_WAIT_S = 300.0
TOKEN = "interop-token"


@pytest.fixture(scope="module")
def interop_dir(repo_root) -> Path:
    folder = repo_root / "scripts" / "ts_interop"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the TypeScript interop test")
    if not (folder / "node_modules" / "@triton-one" / "yellowstone-grpc").is_dir():
        try:
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=INSTALL_WAIT_S,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install timed out (registry unreachable?)")
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"npm install failed (offline?): {last}")
    return folder


def _capture(path: Path) -> int:
    """A small capture: 3 transactions and a block meta per slot, one failed, one vote."""
    from sources.capture import CaptureWriter

    count = 0
    with CaptureWriter(path, source="test_ts_interop") as writer:
        for slot in range(9_000, 9_040):
            for position in range(3):
                update = geyser_pb2.SubscribeUpdate()
                update.transaction.slot = slot
                info = update.transaction.transaction
                info.signature = count.to_bytes(8, "little") + bytes(56)
                info.index = position
                info.is_vote = count % 17 == 0
                info.transaction.signatures.append(info.signature)
                info.transaction.message.account_keys.extend([bytes([1]) * 32, bytes([2]) * 32])
                if count % 11 == 0:
                    info.meta.err.err = bytes.fromhex("0800000001190000007017000000")
                writer.write(update)
                count += 1
            meta = geyser_pb2.SubscribeUpdate()
            meta.block_meta.slot = slot
            meta.block_meta.block_time.timestamp = 1_760_000_000 + slot
            writer.write(meta)
    return count


def test_official_typescript_client_receives_every_transaction(interop_dir, tmp_path):
    capture = tmp_path / "interop.capture"
    transactions = _capture(capture)
    server = subprocess.Popen(
        [SOLFLOW, "serve", str(capture), "--port", "0", "--x-token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split("127.0.0.1:")[1].split(":")[0])
        endpoint = f"http://127.0.0.1:{port}"
        refused = subprocess.run(
            ["node", "count_transactions.mjs", endpoint],
            cwd=interop_dir,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env={**os.environ, "X_TOKEN": "wrong"},
        )
        assert refused.returncode == 1 and "No valid auth token" in refused.stderr

        result = subprocess.run(
            ["node", "count_transactions.mjs", endpoint],
            cwd=interop_dir,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env={**os.environ, "X_TOKEN": TOKEN},
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["transactions"] == transactions == 120
        assert report["unique_signatures"] == transactions
        assert report["block_metas"] == 40
        assert report["other"] == 0
        assert report["last_slot"] == "9039"
        assert report["server_package"] == "solflow-replay-server"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=WAIT_S) == 0
    finally:
        server.kill()
        server.communicate()
