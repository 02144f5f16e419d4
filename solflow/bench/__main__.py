"""``solflow bench`` / ``python -m solflow.bench``: throughput of every stage on one simulated capture.

Measures, each as transactions per second (median of ``--runs``) and as a ratio to ``parse``
(``grpc_source``: to ``grpc_raw``): ``parse``, ``decode``, ``aggregate`` (in this process, one
pass over the whole capture held in memory), ``flow``, ``flow_w4``, ``flow_2proc`` (``bytewax.run``
subprocesses on the first ``--flow-transactions``), ``grpc_raw`` and ``grpc_source`` (against a
replay-server subprocess, on the first ``--grpc-transactions``). Counts, not rates:
``agg_rows_per_trade`` and ``parquet_files_per_hour`` of a synthetic market at ``--mainnet-rate``
trades a second (``solflow.bench.mainnet``) -- see ``BENCHMARKS.md`` for what each one times.

    $ solflow bench --transactions 200000 --runs 3 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from solflow.bench import BenchError, flowruns, grpcruns, inprocess
from solflow.bench import capture as bench_capture
from solflow.bench.figures import COUNT_KEYS, KEYS, Count, Figure, results, table

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "solflow-bench"
PACED_FRACTION = 0.8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transactions",
        type=int,
        default=200_000,
        metavar="N",
        help="transactions in the simulated capture (default 200000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs per measure (in-process measures: segments of one pass); the median is reported (default 3)",
    )
    parser.add_argument(
        "--flow-transactions",
        type=int,
        default=50_000,
        metavar="N",
        help="transactions replayed by the flow measures, a prefix of the capture (default 50000)",
    )
    parser.add_argument(
        "--grpc-transactions",
        type=int,
        default=20_000,
        metavar="N",
        help="transactions streamed in the gRPC measures, a prefix of the capture (default 20000)",
    )
    parser.add_argument(
        "--mints", type=int, default=100_000, help="active mints for the aggregation memory figure (default 100000)"
    )
    parser.add_argument(
        "--mainnet-rate",
        type=int,
        default=500,
        metavar="N",
        help="trades per second of the synthetic market behind the counts (default 500)",
    )
    parser.add_argument(
        "--mainnet-seconds",
        type=int,
        default=600,
        metavar="S",
        help="seconds of chain time that market trades (default 600; files hold an hour each)",
    )
    parser.add_argument("--only", metavar="KEYS", help=f"comma-separated subset of: {', '.join(KEYS)} (default: all)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where generated captures are kept (default {DEFAULT_CACHE})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    from solflow.cli.main import CliError

    wanted = _wanted(args.only, CliError)
    for name in (
        "transactions",
        "runs",
        "flow_transactions",
        "grpc_transactions",
        "mints",
        "mainnet_rate",
        "mainnet_seconds",
    ):
        if getattr(args, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    bench = _Bench(args, wanted)
    try:
        figures = bench.measure_all()
    except BenchError as exc:
        raise CliError(str(exc)) from None
    rows = results(figures, bench.counts)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(textwrap.fill(bench.describe(), 80))
        print(table(rows))
    return 0


def _wanted(only: str | None, error: type[Exception]) -> tuple[str, ...]:
    if not only:
        return KEYS
    chosen = tuple(dict.fromkeys(key.strip() for key in only.split(",") if key.strip()))
    unknown = [key for key in chosen if key not in KEYS]
    if unknown or not chosen:
        raise error(f"--only: unknown measure(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(KEYS)}")
    return chosen


class _Bench:
    def __init__(self, args: argparse.Namespace, wanted: tuple[str, ...]):
        self.args = args
        self.wanted = wanted
        self.figures: dict[str, Figure] = {}
        self.counts: dict[str, Count] = {}
        self.drained: inprocess.Drained | None = None
        self.started = time.perf_counter()
        self.generated_s: float | None = None
        self.capture = Path()
        self.transactions = 0

    def measure_all(self) -> dict[str, Figure]:
        args = self.args
        memory: _MintsMemory | None = None
        mainnet: _Mainnet | None = None
        cached = bench_capture.capture_path(args.transactions, args.seed, args.cache_dir).is_file()
        counted = any(key in self.wanted for key in COUNT_KEYS)
        if not cached:
            # Generating the capture keeps one core busy for a minute or two and times nothing; the
            # memory figure and the counts (not rates) are measured by their own processes meanwhile.
            if "aggregate" in self.wanted:
                memory = _MintsMemory(args.mints)
            if counted:
                mainnet = _Mainnet(args.mainnet_rate, args.mainnet_seconds)
        began = time.perf_counter()
        self.capture, generated = bench_capture.cached_capture(args.transactions, args.seed, args.cache_dir)
        if generated:
            self.generated_s = time.perf_counter() - began
            self._say(f"generated {self.capture} in {self.generated_s:.0f} s")
        records = bench_capture.load_records(self.capture)
        self.transactions = records.transactions
        wanted = set(self.wanted)
        flows: list[str] = [key for key in ("flow", "flow_w4", "flow_2proc") if key in wanted]
        flow_capture = self._head(records, args.flow_transactions) if flows else None
        startup_capture = self._head(records, 0)[0] if flows else None
        grpc_capture = self._head(records, args.grpc_transactions) if {"grpc_raw", "grpc_source"} & wanted else None
        self._in_process(records)
        del records
        if flow_capture is not None:
            assert startup_capture is not None, "both exist when a flow mode is wanted"
            with tempfile.TemporaryDirectory(prefix="solflow-bench-") as work:
                self._flows(flows, *flow_capture, startup_capture, Path(work))
        if grpc_capture is not None:
            self._grpc(*grpc_capture)
        if "aggregate" in self.wanted:
            self.figures["aggregate"].extra.update((memory or _MintsMemory(args.mints)).result())
        if counted:
            self._counts((mainnet or _Mainnet(args.mainnet_rate, args.mainnet_seconds)).result())
        self._say(f"done in {time.perf_counter() - self.started:.0f} s")
        return self.figures

    def _counts(self, found: dict[str, Any]) -> None:
        market = {key: found[key] for key in ("rate", "seconds", "trades")}
        if "agg_rows_per_trade" in self.wanted:
            rows = Count(found["rows_per_trade"], {**market, "mints": found["mints"]})
            rows.extra.update(history_rows=found["history_rows"], within_bound=found["within_bound"])
            if self.drained is not None:  # the bench capture, every window filled and emptied
                trades = self.figures["aggregate"].extra["trades"]
                rows.extra["capture_rows_per_trade"] = round(self.drained.history_rows / trades, 4)
                rows.extra["capture_within_bound"] = self.drained.history_rows <= trades + self.drained.mints
            self.counts["agg_rows_per_trade"] = rows
        if "parquet_files_per_hour" in self.wanted:
            files = Count(found["files_per_hour"], {**market, "hours": found["hours"], "files": found["files"]})
            self.counts["parquet_files_per_hour"] = files
        self._say(f"mainnet-like market: {found['rows_per_trade']} history rows per trade, {found['files']} files")

    def _head(self, records: bench_capture.Records, transactions: int) -> tuple[Path, bench_capture.Records]:
        """The capture cut after ``transactions`` transactions (whole slots), written once to the cache."""
        if transactions >= records.transactions:
            return self.capture, records
        path = self.args.cache_dir / f"{self.capture.stem}-head{transactions}.capture"
        return path, bench_capture.head_capture(records, transactions, path)

    def _in_process(self, records: bench_capture.Records) -> None:
        parts = self.args.runs
        transactions = records.transactions
        if "parse" in self.wanted:
            self._segments("parse", inprocess.parse_pass(records, parts)).extra["transactions"] = transactions
        if not {"decode", "aggregate"} & set(self.wanted):
            return
        segments, decoded = inprocess.decode_pass(records, parts)
        if "decode" in self.wanted:
            self._segments("decode", segments).extra.update(transactions=transactions, trades=len(decoded.trades))
        if "aggregate" in self.wanted:
            segments, drained = inprocess.aggregate_pass(decoded, parts)
            figure = self._segments("aggregate", segments)
            figure.extra.update(
                transactions=transactions,
                trades=len(decoded.trades),
                rows=sum(segment.rows for segment in segments),
                trades_per_s=round(statistics.median(s.trades / s.seconds for s in segments), 1),
            )
            self.drained = drained

    def _segments(self, key: str, segments: list[inprocess.Segment]) -> Figure:
        figure = self.figures[key] = Figure([segment.transactions / segment.seconds for segment in segments])
        for number, (segment, rate) in enumerate(zip(segments, figure.runs), 1):
            self._say(f"{key} segment {number}/{len(segments)}: {rate:,.0f} tx/s ({segment.seconds:.1f} s)")
        return figure

    def _flows(
        self, keys: list[str], capture: Path, head: bench_capture.Records, startup_capture: Path, work: Path
    ) -> None:
        """Rounds of one run per mode, so a change in the machine's load hits every mode alike. Each
        run on the prefix is followed by one on the capture's first slot: its wall time is the
        mode's fixed cost (interpreter, imports, cluster connection, shutdown), which a backfill of
        millions of transactions pays once; ``steady_tx_per_s`` takes the median of it out."""
        runs: dict[str, list[flowruns.FlowRun]] = {key: [] for key in keys}
        startups: dict[str, list[float]] = {key: [] for key in keys}
        pycache = work / "pycache"
        _flow_run(keys[0], startup_capture, work, pycache)  # untimed: compiles the modules once
        for number in range(1, self.args.runs + 1):
            for key in keys:
                runs[key].append(_flow_run(key, capture, work, pycache))
                startups[key].append(_flow_run(key, startup_capture, work, pycache).seconds)
                seconds = runs[key][-1].seconds
                self._say(
                    f"{key} run {number}/{self.args.runs}: {head.transactions / seconds:,.0f} tx/s"
                    f" ({seconds:.1f} s, CPU {sum(runs[key][-1].cpu_seconds):.1f} s; start-up run"
                    f" {startups[key][-1]:.1f} s)"
                )
        for key in keys:
            figure = self.figures[key] = Figure([head.transactions / run.seconds for run in runs[key]])
            startup_s = statistics.median(startups[key])
            median_s = head.transactions / figure.tx_per_s
            # None when the prefix ran no longer than the start-up run (a tiny capture, or noise).
            steady = round(head.transactions / (median_s - startup_s), 1) if median_s > startup_s else None
            figure.extra.update(
                transactions=head.transactions,
                trades=runs[key][-1].trades,
                seconds=[round(run.seconds, 2) for run in runs[key]],
                startup_s=round(startup_s, 2),
                steady_tx_per_s=steady,
                cpu_s=round(statistics.median(sum(run.cpu_seconds) for run in runs[key]), 2),
                busiest_cpu_s=round(statistics.median(max(run.cpu_seconds) for run in runs[key]), 2),
            )
        if "flow_2proc" in keys and "flow" in keys:
            flow, two = self.figures["flow"], self.figures["flow_2proc"]
            two.extra["vs_flow"] = round(two.tx_per_s / flow.tx_per_s, 3)
            if two.extra["steady_tx_per_s"] is not None and flow.extra["steady_tx_per_s"] is not None:
                two.extra["vs_flow_steady"] = round(two.extra["steady_tx_per_s"] / flow.extra["steady_tx_per_s"], 3)
            # What two cores of their own would give: one process's CPU time over the busier one's.
            two.extra["vs_flow_cpu"] = round(flow.extra["cpu_s"] / two.extra["busiest_cpu_s"], 3)

    def _grpc(self, capture: Path, head: bench_capture.Records) -> None:
        """Raw and source runs alternate, so a change in the machine's load hits both alike."""
        raw_runs: list[grpcruns.StreamRun] = []
        source_runs: list[grpcruns.StreamRun] = []
        with_source = "grpc_source" in self.wanted
        for number in range(1, self.args.runs + 1):
            raw_runs.append(grpcruns.raw_stream(capture))
            self._say(f"grpc_raw run {number}/{self.args.runs}: {_rate(raw_runs[-1]):,.0f} tx/s")
            if with_source:
                source_runs.append(grpcruns.source_stream(capture))
                self._check_delivered(source_runs[-1], raw_runs[-1])
                self._say(f"grpc_source run {number}/{self.args.runs}: {_rate(source_runs[-1]):,.0f} tx/s")
        raw = Figure([_rate(run) for run in raw_runs])
        raw.extra.update(
            transactions=raw_runs[-1].transactions,
            updates_per_s=round(statistics.median(r.updates / r.seconds for r in raw_runs), 1),
        )
        if "grpc_raw" in self.wanted:
            self.figures["grpc_raw"] = raw
        if not with_source:
            return
        # The server paces chain positions (every record of the capture); the stream carries the
        # subscribed ones, so scale the delivered raw rate up to positions per second.
        positions_per_s = raw.extra["updates_per_s"] * len(head.raw) / raw_runs[-1].updates
        paced_rate = PACED_FRACTION * positions_per_s
        self._say(f"grpc_source at {paced_rate:.0f} updates/s (0.8 x raw)")
        paced = grpcruns.source_stream(capture, paced_rate)
        source = self.figures["grpc_source"] = Figure([_rate(run) for run in source_runs])
        source.extra.update(
            transactions=raw_runs[-1].transactions,
            paced_updates_per_s=round(paced_rate, 1),
            paced_delivered=paced.transactions,
            paced_dropped=paced.dropped,
            paced_missing=raw_runs[-1].transactions - paced.transactions,
        )

    @staticmethod
    def _check_delivered(run: grpcruns.StreamRun, raw: grpcruns.StreamRun) -> None:
        if run.transactions != raw.transactions:
            raise BenchError(f"the source delivered {run.transactions} transactions, the raw stream {raw.transactions}")

    def describe(self) -> str:
        generated = f", generated in {self.generated_s:.0f} s" if self.generated_s is not None else " (cached)"
        return (
            f"solflow bench: {self.transactions:,} transactions (seed {self.args.seed}){generated}; "
            f"median of {self.args.runs} runs (in process: segments of one pass); "
            f"flows on the first {self.args.flow_transactions:,}, "
            f"gRPC on the first {self.args.grpc_transactions:,}; {time.perf_counter() - self.started:.0f} s in all"
        )

    def _say(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)


def _flow_run(key: str, capture: Path, work: Path, pycache: Path) -> flowruns.FlowRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=work))
    run = flowruns.run_flow(key, capture, workdir, pycache)
    shutil.rmtree(workdir)
    return run


def _rate(run: grpcruns.StreamRun) -> float:
    return run.transactions / run.seconds


class _Mainnet:
    """``python -m solflow.bench.mainnet`` in its own process: history rows and Parquet files of a
    synthetic market at a mainnet-like rate."""

    def __init__(self, rate: int, seconds: int):
        command = [sys.executable, "-m", "solflow.bench.mainnet", "--rate", str(rate), "--seconds", str(seconds)]
        self._process = subprocess.Popen(
            command, cwd=flowruns.REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self) -> dict[str, Any]:
        stdout, stderr = self._process.communicate()
        if self._process.returncode != 0:
            raise BenchError(f"bench.mainnet failed: {stderr.strip().splitlines()[-1:]}")
        found: dict[str, Any] = json.loads(stdout)
        return found


class _MintsMemory:
    """``python -m solflow.bench.mints`` in its own process: RSS with ``mints`` active mints."""

    def __init__(self, mints: int):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "solflow.bench.mints", "--mints", str(mints)],
            cwd=flowruns.REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self) -> dict[str, Any]:
        stdout, stderr = self._process.communicate()
        if self._process.returncode != 0:
            raise BenchError(f"bench.mints failed: {stderr.strip().splitlines()[-1:]}")
        found = json.loads(stdout)
        return {
            "mints": found["mints"],
            "rss_mib": round(found["rss_mib"], 1),
            "baseline_rss_mib": round(found["baseline_rss_mib"], 1),
        }


if __name__ == "__main__":
    # Through the CLI entry point, so errors are reported exactly as ``solflow bench`` reports them.
    from solflow.cli.main import main as cli_main

    sys.exit(cli_main(["bench", *sys.argv[1:]]))
