"""``solflow serve X.capture``: serve a capture as a Yellowstone gRPC endpoint until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading

from solflow.cli.main import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="capture file to serve (the chain)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=10000, help="port to listen on; 0 picks a free one (default 10000)")
    parser.add_argument("--x-token", help="require this x-token metadata on every call")
    parser.add_argument("--rate", type=float, help="publish N updates per second (default: the whole capture at once)")
    parser.add_argument(
        "--loop", action="store_true", help="repeat the capture, slots shifted forward and signatures made new"
    )
    parser.add_argument(
        "--ping-interval", type=float, default=10.0, metavar="S", help="seconds between stream pings (default 10)"
    )
    parser.add_argument(
        "--replay-window",
        type=int,
        default=150,
        metavar="SLOTS",
        help="slots before the head a from_slot request may replay; 0 disables replay (default 150)",
    )
    parser.add_argument(
        "--clock-start",
        type=float,
        metavar="UNIX_TS",
        help="with --rate: the Unix time the chain started (continue a previous run's chain)",
    )


def run(args: argparse.Namespace) -> int:
    from solflow.server.replay import ReplayServer

    try:
        server = ReplayServer(
            args.capture,
            host=args.host,
            port=args.port,
            x_token=args.x_token,
            rate=args.rate,
            loop=args.loop,
            ping_interval_s=args.ping_interval,
            replay_window_slots=args.replay_window,
            clock_start=args.clock_start,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    port = server.start()
    chain = server.chain
    counts = chain.counts()
    pace = f"{args.rate:g} updates/s" if args.rate else "all at once"
    skipped = sum(chain.skipped.values())
    print(
        f"serving {args.capture} on {args.host}:{port}: {len(chain)} updates "
        f"({counts['transaction']} transactions, {counts['block_meta']} block metas, {counts['slot']} slots"
        f"{f', {skipped} unservable skipped' if skipped else ''}), "
        f"slots {chain.first_slot}-{chain.last_slot}, {pace}{', looping' if args.loop else ''}",
        flush=True,
    )
    stop_requested.wait()
    server.stop(grace=1.0)
    return 0
