"""The processes of a multi-process run connecting without Timely's one-second retry.

Bytewax (Timely) makes process ``i`` connect to every process ``j < i`` as soon as its flow is
built, and retries a refused connection after a fixed second. Processes started together finish
importing at about the same time, so a later process's first attempt is refused about half of the
time: one second lost on a run that takes two or three (measured in ``BENCHMARKS.md``). So before
handing its flow to Bytewax, process ``i`` waits until every lower-numbered process on this host
listens on its address -- read from the kernel's table of listening sockets (``/proc/net/tcp``),
never by connecting: Timely would take a probe connection for a peer's. Addresses of other hosts,
and hosts without that table, are not waited for, and the wait gives up after ``WAIT_S`` (a process
started much later still gets Timely's retries). Nothing else about the run changes.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

log = logging.getLogger(__name__)

WAIT_S = 10.0
POLL_S = 0.005
_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"
_ANY = {IPv4Address("0.0.0.0"), IPv6Address("::")}

Endpoint = tuple[set[IPv4Address | IPv6Address], int]  # the addresses a peer may listen on, and its port


def wait_for_lower_processes(addresses: Sequence[str], process_id: int, wait_s: float = WAIT_S) -> bool:
    """Wait until the processes numbered below ``process_id`` that run on this host listen on their
    ``host:port`` (Bytewax's ``-a`` list); ``True`` if all of them do (or none is local)."""
    local = {address: endpoint for address in addresses[:process_id] if (endpoint := _local_endpoint(address))}
    if not local or not _TABLES[0].exists():
        return True
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        listening = listening_sockets()
        missing = [address for address, endpoint in local.items() if not _listens(listening, endpoint)]
        if not missing:
            return True
        if time.monotonic() >= deadline:
            return False
        if not waiting:
            log.info("process %d: waiting for %s to listen before connecting", process_id, ", ".join(missing))
            waiting = True
        time.sleep(POLL_S)


def listening_sockets() -> set[tuple[IPv4Address | IPv6Address, int]]:
    """(address, port) of every TCP socket listening on this host (Linux ``/proc/net/tcp*``)."""
    found: set[tuple[IPv4Address | IPv6Address, int]] = set()
    for table in _TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _LISTEN:
                host, port = fields[1].split(":")
                found.add((_proc_address(host), int(port, 16)))
    return found


def _proc_address(text: str) -> IPv4Address | IPv6Address:
    """An address as ``/proc/net/tcp*`` writes it: 32-bit words in hex, each in host (little-endian) order."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return IPv4Address(words) if len(words) == 4 else IPv6Address(words)


def _listens(listening: set[tuple[IPv4Address | IPv6Address, int]], endpoint: Endpoint) -> bool:
    hosts, port = endpoint
    return any(listened == port and (host in hosts or host in _ANY) for host, listened in listening)


def _local_endpoint(address: str) -> Endpoint | None:
    """The addresses ``host:port`` resolves to, if one of them belongs to this host; else None."""
    host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        return None  # Timely reports a bad address itself
    hosts = {ip_address(info[4][0]) for info in infos}
    return (hosts, port) if any(_is_own(host) for host in hosts) else None


def _is_own(host: IPv4Address | IPv6Address) -> bool:
    """Whether ``host`` is an address of this machine: binding a socket to it succeeds."""
    family = socket.AF_INET if host.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(host), 0))
    except OSError:
        return False
    return True
