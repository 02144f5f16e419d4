"""What a user sees running ``python -m bytewax.run flows.solflow``: configuration and capture errors
as one line, and the progress bar only on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from test_flow_support import REPO_ROOT, RUN_TIMEOUT_S, flow_command, flow_env, run_flow, sample_capture, summary_lines

from solflow.settings import Settings


@pytest.fixture(scope="module")
def capture() -> Path:
    return sample_capture()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SOLFLOW_AGG_SHARDS", "0"),
        ("SOLFLOW_LEGACY", "csv"),
        ("SOLFLOW_PIPELINE", "maybe"),
        ("SOLFLOW_WINDOWS", "900,3600"),
        ("SOLFLOW_SIGNALS", "breakout.no_such_threshold=3"),
        ("GEYSER_URL", "grpc://127.0.0.1:1"),
        ("GEYSER_URL", "http://127.0.0.1 :10000"),
        ("GEYSER_URL", "http://127.0.0.1:70000"),
        ("GEYSER_URL", "http://:10000"),
        ("X_TOKEN", "do-not-print-this-token\x07"),
        ("SOLFLOW_STALL_TIMEOUT_S", "inf"),
        ("SOLFLOW_BACKOFF_MAX_S", "nan"),
        ("SOLFLOW_REPLAY_SPEED", "inf"),
        ("SOLFLOW_SIGNALS", "breakout.min_net_flow_60s=nan"),
        ("SOLFLOW_SIGNALS", "surge.min_volume_ratio=inf"),
        ("SOLFLOW_GRPC_MAX_MESSAGE_MB", "nan"),
        ("SOLFLOW_METRICS_PORT", "metrics"),
        ("SOLFLOW_RPC_RPS", "fast"),
        # Far past any use: each made a Rust panic, a traceback, or a hang that ignored SIGTERM.
        ("SOLFLOW_GRPC_MAX_MESSAGE_MB", "4096"),
        ("SOLFLOW_BACKOFF_MAX_S", "1e10"),
        ("OUTPUT_MAX_ROTATIONS", "1000000000000"),
        ("SOLFLOW_AGG_TICK", "100000000000000000000"),
        ("SOLFLOW_AGG_SHARDS", "100000000000"),
        ("SOLFLOW_WINDOWS", "60,300,100000000000000000000"),
        ("SOLFLOW_RETENTION", "100000000000000000000d"),
        ("SOLFLOW_ALERT_COOLDOWN", "100000000000000000000s"),
    ],
)
def test_bad_variable_is_one_line_naming_it(tmp_path: Path, capture: Path, variable: str, value: str) -> None:
    env = flow_env(tmp_path, capture, X_TOKEN="do-not-print-this-token")
    env[variable] = value
    started = time.monotonic()
    result = run_flow(env)
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    # names the one variable, and says what is wrong in words (not Python's int() or float() message)
    assert re.match(rf"solflow: configuration error: {variable}\b(?! or )", lines[0]), lines[0]
    assert "literal" not in lines[0] and "convert" not in lines[0], lines[0]
    assert "do-not-print-this-token" not in result.stderr + result.stdout
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [name for name in Settings.variables() if f"`{name}`" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"


def test_missing_capture_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.capture"
    result = run_flow(flow_env(tmp_path / "out", missing))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"solflow: configuration error: SOLFLOW_REPLAY={str(missing)!r}: no such capture file"
        " (set GEYSER_URL to stream live, or SOLFLOW_REPLAY to a capture)"
    ]


def _flipped(capture: Path, at: float) -> bytes:
    data = bytearray(capture.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda capture: capture.read_bytes()[: capture.stat().st_size // 2], "truncated capture"),
        (lambda capture: _flipped(capture, 0.6), "corrupt zstd stream"),
        (lambda capture: b"SOLFLOWCAQ" + capture.read_bytes()[10:], "not a SolFlow capture"),
    ],
    ids=["truncated", "bit-flip", "bad-magic"],
)
def test_a_damaged_capture_is_one_line_before_anything_runs(
    tmp_path: Path, capture: Path, damage: Any, problem: str
) -> None:
    damaged = tmp_path / "damaged.capture"
    damaged.write_bytes(damage(capture))
    started = time.monotonic()
    result = run_flow(flow_env(tmp_path / "out", damaged))
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"solflow: error: {damaged}: {problem}"), line
    assert result.stdout == "" and not (tmp_path / "out").exists(), "nothing ran"


@pytest.mark.parametrize(
    ("out", "problem"),
    [
        ("a-file", "is a file, not a directory"),
        ("a-file/out", "cannot create the directory"),
        ("/proc", "cannot write"),
    ],
)
def test_an_unusable_output_directory_is_one_line(tmp_path: Path, capture: Path, out: str, problem: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    where = tmp_path / out
    result = run_flow(flow_env(where, capture))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"solflow: configuration error: SOLFLOW_OUT={str(where)!r}: {problem}"), line


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_terminal(env: dict[str, str]) -> tuple[str, str]:
    """Run the flow with stdout on a pseudo-terminal (120 columns): what it drew, raw and as text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(flow_command(), cwd=REPO_ROOT, env=env, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, proc.stderr.read().decode() if proc.stderr else ""
    raw = b"".join(chunks).decode(errors="replace")
    return raw, _ANSI.sub("", raw).replace("\r", "\n")


def test_progress_bar_on_a_terminal_only(tmp_path: Path, capture: Path) -> None:
    _, shown = _run_on_terminal(flow_env(tmp_path / "auto", capture))
    assert "solflow slots" in shown and "tx/s" in shown
    [summary] = summary_lines(shown)
    assert summary.endswith("tx/s"), "the summary is one line, not wrapped by the progress display"

    raw, hidden = _run_on_terminal(flow_env(tmp_path / "off", capture, SOLFLOW_PROGRESS="off"))
    assert "solflow slots" not in hidden and "\x1b[" not in raw
    assert len(summary_lines(hidden)) == 1


def test_recovery_directory_of_other_programs_is_one_error_line(tmp_path: Path, capture: Path) -> None:
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True, cwd=REPO_ROOT)
    args = ("-r", str(recovery), "-s", "1", "-b", "0")
    assert run_flow(flow_env(tmp_path / "out", capture), *args).returncode == 0
    fewer = run_flow(flow_env(tmp_path / "out", capture, SOLFLOW_PROGRAMS="pumpfun,pumpswap"), *args)
    assert fewer.returncode == 1
    assert "Traceback" not in fewer.stderr
    errors = [line for line in fewer.stderr.splitlines() if line.startswith("solflow: error:")]
    assert len(errors) == 1, fewer.stderr
    assert "recovery directory holds state of partition" in errors[0] and "SOLFLOW_PROGRAMS" in errors[0]


# ``python -m bytewax.run flows.solflow`` with a bug planted in the decode step.
_RUN_WITH_A_BUG = """
import importlib.util, runpy, sys
sys.modules["__main__"].__spec__ = importlib.util.find_spec("bytewax.run")  # as under python -m bytewax.run
import flows.decoding

def broken(self, batch):
    raise ZeroDivisionError("a bug in a step")

flows.decoding.DecodeStep.__call__ = broken
sys.argv = ["bytewax.run", "flows.solflow"]
runpy.run_module("bytewax.run", run_name="__main__")
"""


def test_a_finished_run_leaves_at_once_but_a_bug_keeps_its_traceback_and_status(tmp_path: Path, capture: Path) -> None:
    finished = run_flow(flow_env(tmp_path / "finished", capture))
    assert finished.returncode == 0, finished.stderr
    assert len(summary_lines(finished.stdout)) == 1  # printed and flushed before the process left
    env = flow_env(tmp_path / "bug", capture)
    broken = subprocess.run(
        [sys.executable, "-c", _RUN_WITH_A_BUG],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert broken.returncode == 1, broken.stderr[-3000:]
    assert "Traceback" in broken.stderr and "ZeroDivisionError: a bug in a step" in broken.stderr
