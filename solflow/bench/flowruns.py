"""End-to-end flow runs: real ``python -m bytewax.run flows.solflow`` subprocesses on a capture.

Every run replays the capture with the default settings (all five programs, per-program
partitions, legacy JSONL + the Parquet/SQLite pipeline) into a fresh ``SOLFLOW_OUT``, and is
timed from process start to the exit of the last process -- interpreter start-up and imports
included, as a user would see it. Each process's CPU time (user + system, from ``wait4``) is kept
too: unlike wall time it hardly moves with the load of a shared machine. A run must exit 0 and
print its summary line, whose transaction and trade counts are kept.

Modules are imported from compiled bytecode, as from an installed SolFlow: runs write and read
it under ``pycache`` (``PYTHONPYCACHEPREFIX``), whatever ``PYTHONDONTWRITEBYTECODE`` says; the
caller makes one untimed run first.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from solflow.bench import BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
MODES = {"flow": ("-w", "1"), "flow_w4": ("-w", "4"), "flow_2proc": ("-w", "1")}
_SUMMARY = re.compile(r"solflow run finished: (\d+) transactions, (\d+) trades")
_CLEARED_PREFIXES = ("SOLFLOW_", "GEYSER_", "BYTEWAX_")
_CLEARED = {"X_TOKEN", "COMMITMENT_LEVEL", "OUTPUT_MAX_SIZE_MB", "OUTPUT_MAX_ROTATIONS", "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True, slots=True)
class FlowRun:
    seconds: float
    transactions: int  # as the summary counts them: once per partition that decoded the transaction
    trades: int
    cpu_seconds: tuple[float, ...]  # per process


def run_flow(mode: str, capture: Path, workdir: Path, pycache: Path) -> FlowRun:
    """One run of ``mode`` (``flow``, ``flow_w4`` or ``flow_2proc``) writing into ``workdir``;
    bytecode is kept under ``pycache``."""
    out = workdir / "out"
    env = flow_env(capture, out)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    command = [sys.executable, "-m", "bytewax.run", "flows.solflow", *MODES[mode]]
    if mode == "flow_2proc":
        addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
        commands = [[*command, "-i", str(proc), "-a", addresses] for proc in (0, 1)]
    else:
        commands = [command]
    logs = [workdir / f"process-{index}.log" for index in range(len(commands))]
    started = time.perf_counter()
    processes = []
    for argv, log in zip(commands, logs):
        with open(log, "wb") as sink:
            processes.append(subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT))
    codes, cpu = [], []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        codes.append(process.returncode)
        cpu.append(usage.ru_utime + usage.ru_stime)
    seconds = time.perf_counter() - started
    texts = [log.read_text(errors="replace") for log in logs]
    for code, text in zip(codes, texts):
        if code != 0:
            raise BenchError(f"{mode} run exited with {code}: {_tail(text)}")
    for text in texts:
        found = _SUMMARY.search(text)
        if found:
            return FlowRun(seconds, int(found[1]), int(found[2]), tuple(cpu))
    raise BenchError(f"{mode} run printed no summary line: {_tail(texts[0])}")


def flow_env(capture: Path, out: Path) -> dict[str, str]:
    """The caller's environment without SolFlow/Bytewax settings, so every run uses the defaults."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_CLEARED_PREFIXES) and name not in _CLEARED
    }
    env.update(SOLFLOW_REPLAY=str(capture), SOLFLOW_OUT=str(out), SOLFLOW_PROGRESS="off")
    return env


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 right now (for ``-a`` addresses of a local cluster)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"
