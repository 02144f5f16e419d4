"""The wait of a multi-process run's later processes for the earlier ones' listeners, against the
kernel's real socket table (the end-to-end run is in ``test_flow_runs``)."""

from __future__ import annotations

import socket
import threading
import time
from ipaddress import ip_address

from flows.cluster_start import listening_sockets, wait_for_lower_processes
from solflow.bench.flowruns import free_ports


def test_a_listening_socket_is_seen_until_it_closes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert (ip_address("127.0.0.1"), port) not in listening_sockets()  # bound, not listening yet
        server.listen()
        assert (ip_address("127.0.0.1"), port) in listening_sockets()
    assert (ip_address("127.0.0.1"), port) not in listening_sockets()


def test_waits_until_every_lower_process_listens() -> None:
    ports = free_ports(3)
    addresses = [f"127.0.0.1:{port}" for port in ports]
    servers = [socket.socket() for _ in range(2)]
    try:

        def listen_later(server: socket.socket, port: int, after_s: float) -> None:
            time.sleep(after_s)
            server.bind(("127.0.0.1", port))
            server.listen()

        threads = [
            threading.Thread(target=listen_later, args=(server, port, after))
            for server, port, after in zip(servers, ports, (0.2, 0.6))
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        assert wait_for_lower_processes(addresses, 2, wait_s=60)
        assert time.monotonic() - started >= 0.6
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            server.close()


def test_gives_up_after_the_wait_when_nobody_listens() -> None:
    port = free_ports(1)[0]
    started = time.monotonic()
    assert not wait_for_lower_processes([f"127.0.0.1:{port}", "127.0.0.1:1"], 1, wait_s=0.3)
    assert time.monotonic() - started >= 0.3


def test_the_first_process_and_other_hosts_are_not_waited_for() -> None:
    port = free_ports(1)[0]
    assert wait_for_lower_processes([f"127.0.0.1:{port}", "127.0.0.1:1"], 0, wait_s=60)
    # 192.0.2.0/24 is reserved for documentation: never an address of this host.
    started = time.monotonic()
    assert wait_for_lower_processes([f"192.0.2.1:{port}", "127.0.0.1:1"], 1, wait_s=60)
    assert time.monotonic() - started < 5
