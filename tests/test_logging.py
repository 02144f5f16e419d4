"""Logging as configured by the settings: readable or JSON lines on stderr, the level obeyed, and the
x-token never written -- checked on a real live run against the project's own replay server, and on
records that carry the token in their message and traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_flow_support import REPO_ROOT, RUN_TIMEOUT_S, flow_env, run_flow, sample_capture, start_flow, wait_until

from solflow.bench.flowruns import free_ports
from solflow.server.replay import ReplayServer

TOKEN = "s3cret-Token-4f1d9"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .+$")


def log_lines(output: str, log_format: str) -> list[str]:
    """The log lines of a run's combined output (the summary line is not a log line)."""
    if log_format == "json":
        return [line for line in output.splitlines() if line.startswith("{")]
    return [line for line in output.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_live_run_logs_in_the_chosen_format_without_the_token(tmp_path: Path, log_format: str) -> None:
    (metrics_port,) = free_ports(1)
    log = tmp_path / "run.log"
    with ReplayServer(sample_capture(), x_token=TOKEN) as server:
        server.stall()  # nothing, not even pings, until resumed: the source reconnects and says so
        env = flow_env(
            tmp_path / "out",
            sample_capture(),
            GEYSER_URL=f"http://127.0.0.1:{server.port}",
            X_TOKEN=TOKEN,
            SOLFLOW_PROGRAMS="pumpswap",
            SOLFLOW_STALL_TIMEOUT_S="1",
            SOLFLOW_METRICS_PORT=str(metrics_port),
            SOLFLOW_LOG_FORMAT=log_format,
            SOLFLOW_LOG_LEVEL="debug",
        )
        flow = start_flow(env, log=log)
        try:
            wait_until(lambda: "reconnecting" in log.read_text(), RUN_TIMEOUT_S, "a stall warning")
            server.resume()
            assert flow.wait(RUN_TIMEOUT_S) == 0, log.read_text()
        finally:
            if flow.poll() is None:
                flow.kill()
                flow.wait()
    output = log.read_text()
    assert TOKEN not in output
    lines = log_lines(output, log_format)
    assert len(lines) >= 2, output
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
        levels = {record["level"] for record in records}
        messages = " ".join(record["message"] for record in records)
    else:
        assert all(TEXT_LINE.match(line) for line in lines), lines
        levels = {line.split(" ")[1] for line in lines}
        messages = output
    assert {"INFO", "WARNING"} <= levels
    assert f"metrics served on http://127.0.0.1:{metrics_port}/metrics" in messages
    assert "sent nothing for 1.0 s" in messages


_LOG_THE_TOKEN = """
import logging
from solflow.logs import configure_logging
from solflow.settings import Settings

configure_logging(Settings.from_env())
configure_logging(Settings.from_env())  # configured twice: still one handler
log = logging.getLogger("test.secret")
log.warning("calling with x-token %s", "{token}")
try:
    raise ConnectionError("refused: metadata x-token={token}")
except ConnectionError:
    log.exception("call failed")
log.debug("hidden below the level {token}")
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_token_is_redacted_from_messages_and_tracebacks(log_format: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "X_TOKEN": TOKEN, "SOLFLOW_LOG_FORMAT": log_format, "SOLFLOW_LOG_LEVEL": "info"}
    done = subprocess.run(
        [sys.executable, "-c", _LOG_THE_TOKEN.format(token=TOKEN)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stderr and "hidden below the level" not in done.stderr
    assert done.stderr.count("calling with x-token ***") == 1
    assert "x-token=***" in done.stderr
    if log_format == "json":
        records = [json.loads(line) for line in done.stderr.splitlines()]
        assert [r["level"] for r in records] == ["WARNING", "ERROR"]
        assert "ConnectionError: refused: metadata x-token=***" in records[1]["exception"]


def test_a_bad_log_setting_is_one_line(tmp_path: Path) -> None:
    done = run_flow(flow_env(tmp_path / "out", sample_capture(), SOLFLOW_LOG_LEVEL="loud"))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "solflow: configuration error: SOLFLOW_LOG_LEVEL='loud': expected one of debug, info, warning, error"
    )
