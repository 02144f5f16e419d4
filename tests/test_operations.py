"""Running SolFlow as a service: metrics and health per process, the deployment files, the paperwork.

* ``SOLFLOW_METRICS_PORT`` + the process id: both processes of a two-process run serve ``/metrics``
  and ``/healthz`` on their own port; ``/healthz`` says 503 once a run is stopping.
* ``deploy/Dockerfile``, ``deploy/solflow.service`` and ``deploy/compose.scale-out.yaml`` parse and
  say what the README and docs/scale-out.md promise, in the code's own setting names (there is no
  container engine or systemd here, so they are read, not run).
* LICENSE and CHANGELOG.md exist and agree with pyproject.toml.
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dockerfile
import pytest
from test_flow_support import REPO_ROOT, RUN_TIMEOUT_S, flow_command, flow_env, sample_capture, wait_until

from solflow.bench.flowruns import free_ports

DEPLOY = REPO_ROOT / "deploy"


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET; (0, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


# ---------------------------------------------------------------- metrics and health


def test_each_process_serves_metrics_and_health_on_its_own_port(tmp_path: Path) -> None:
    metrics_port, *cluster_ports = free_ports(3)
    while metrics_port + 1 in cluster_ports:  # the second process serves on metrics_port + 1
        metrics_port, *cluster_ports = free_ports(3)
    addresses = ";".join(f"127.0.0.1:{port}" for port in cluster_ports)
    env = flow_env(
        tmp_path / "out",
        sample_capture(),
        SOLFLOW_REPLAY_SPEED="10",  # the sample's six minutes of chain time in about 35 s
        SOLFLOW_METRICS_PORT=str(metrics_port),
        SOLFLOW_METRICS_ADDR="127.0.0.1",
    )
    logs = [tmp_path / f"process-{i}.log" for i in range(2)]
    procs = []
    for i, log in enumerate(logs):
        with open(log, "wb") as sink:
            command = flow_command("-i", str(i), "-a", addresses)
            procs.append(subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT))
    urls = [f"http://127.0.0.1:{metrics_port + i}" for i in range(2)]
    try:
        for url in urls:
            wait_until(lambda url=url: get(f"{url}/healthz")[0] == 200, RUN_TIMEOUT_S, f"{url}/healthz")
        assert all(proc.poll() is None for proc in procs), "both processes still run while probed"
        for url in urls:
            assert get(f"{url}/healthz") == (200, "ok\n")
            status, text = get(f"{url}/metrics")
            assert status == 200 and "solflow_source_updates_received_total" in text
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=RUN_TIMEOUT_S)
    for log in logs:
        assert "metrics not served" not in log.read_text(), log.read_text()


_HEALTH_WHILE_STOPPING = """
import json, sys, urllib.error, urllib.request
from solflow import run_control
from sources.metrics import serve_metrics

def health():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()

port = int(sys.argv[1])
assert serve_metrics(port, "127.0.0.1") == port
states = [health()]
run_control.fail(ConnectionError("the endpoint refused the subscription"))
states.append(health())
print(json.dumps(states))
"""


def test_health_turns_503_with_the_reason_once_the_run_is_stopping() -> None:
    (port,) = free_ports(1)
    done = subprocess.run(
        [sys.executable, "-c", _HEALTH_WHILE_STOPPING, str(port)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[200, "ok\n"], [503, "stopping: the endpoint refused the subscription\n"]]


def test_a_bad_metrics_address_is_one_line(tmp_path: Path) -> None:
    env = flow_env(tmp_path / "out", sample_capture(), SOLFLOW_METRICS_ADDR="everywhere")
    done = subprocess.run(flow_command(), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "solflow: configuration error: SOLFLOW_METRICS_ADDR='everywhere': must be an IP address to listen on,"
        " e.g. 127.0.0.1, 0.0.0.0 or ::"
    )


# ---------------------------------------------------------------- deployment files


def test_the_dockerfile_is_slim_non_root_and_runs_the_embedded_default() -> None:
    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    by_name: dict[str, list[dockerfile.Command]] = {}
    for command in commands:
        by_name.setdefault(command.cmd.upper(), []).append(command)
    [base] = by_name["FROM"]
    assert re.fullmatch(r"python:3\.1[12]-slim(-\w+)?", base.value[0]), base.value
    env = dict(zip(by_name["ENV"][0].value[::2], by_name["ENV"][0].value[1::2], strict=True))
    # Runs as a user other than root, from the USER line to the end.
    users = [c for c in commands if c.cmd.upper() == "USER"]
    assert users and users[-1].value[0] not in ("root", "0")
    assert commands.index(users[-1]) < commands.index(by_name["CMD"][-1])
    # The default command is the README's run of the flow, on the sample capture the image holds.
    assert by_name["CMD"][-1].json and list(by_name["CMD"][-1].value) == [
        "python",
        "-m",
        "bytewax.run",
        "flows.solflow",
    ]
    copied = {c.value[0] for c in by_name["COPY"]} | {v for c in by_name["COPY"] for v in c.value[:-1]}
    assert {"flows", "sources", "sinks", "protos", "solflow", "data"} <= copied
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert not copied & set(ignored)
    # Metrics and health on the exposed port, on every interface of the container.
    port = env["SOLFLOW_METRICS_PORT"]
    assert env["SOLFLOW_METRICS_ADDR"] == "0.0.0.0" and [c.value[0] for c in by_name["EXPOSE"]] == [port]
    assert f"http://127.0.0.1:{port}/healthz" in by_name["HEALTHCHECK"][0].original
    assert env["SOLFLOW_OUT"] == "/app/out"


def test_the_scale_out_compose_file_agrees_with_the_code() -> None:
    """``deploy/compose.scale-out.yaml`` (docs/scale-out.md) as the code reads it: every SolFlow
    setting is one of ``Settings``' variables and parses, the ingest publishes where the members
    read, their sinks are the compose file's own MinIO bucket and Postgres, the members' ``-i``/``-a``
    and recovery partitions agree, the recovery volumes are the image's user's to write, nothing
    starts before the broker answers, and each health check asks a port its process serves."""
    import yaml

    from solflow.cli import dashboard as dashboard_command
    from solflow.settings import Settings

    services = yaml.safe_load((DEPLOY / "compose.scale-out.yaml").read_text())["services"]
    image = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    [image_env] = [dict(zip(c.value[::2], c.value[1::2], strict=True)) for c in image if c.cmd.upper() == "ENV"]
    [user] = [c.value[0] for c in image if c.cmd.upper() == "USER"]
    [health] = [c.original for c in image if c.cmd.upper() == "HEALTHCHECK"]
    owned = " ".join(c.original for c in image if c.cmd.upper() == "RUN" and f"chown {user}" in c.original)
    solflow = {name: s for name, s in services.items() if s.get("image") == "solflow-scale"}
    assert set(solflow) == {"ingest", "member-0", "member-1", "dashboard"}
    aws = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"}

    def environment(service: dict[str, Any]) -> dict[str, str]:
        given = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in service["environment"].items()}
        assert set(given) <= set(Settings.variables()) | aws, set(given) - set(Settings.variables()) - aws
        return image_env | given

    def flow_arguments(service: dict[str, Any]) -> list[str]:
        """The ``bytewax.run`` arguments after ``flows.solflow``; the recovery set-up before it checked."""
        script = service["command"][-1]
        init = re.search(r"python -m bytewax\.recovery (\S+) (\d+)", script)
        words = shlex.split(script.split("exec ", 1)[1])
        assert words[:4] == ["python", "-m", "bytewax.run", "flows.solflow"], words
        arguments = words[4:]
        recovery = arguments[arguments.index("-r") + 1]
        [mount] = [v.split(":")[1] for v in service["volumes"] if v.split(":")[1] == recovery]
        assert mount in owned.split(), f"{mount} is not writable by {user} in the image"
        if init is not None:
            assert init[1] == recovery
            partitions[service["volumes"][0].split(":")[0]] = int(init[2])
        return arguments

    partitions: dict[str, int] = {}  # recovery volume -> partitions it is initialised with
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)
    # Every process's health check asks the port it serves.
    for name in ("ingest", "member-0"):
        assert "healthcheck" not in solflow[name]
    assert f"127.0.0.1:{image_env['SOLFLOW_METRICS_PORT']}/healthz" in health

    ingest = Settings.from_env(environment(solflow["ingest"]))
    assert ingest.kafka_publish is not None and ingest.kafka_input is None and ingest.geyser_url is None
    [kafka_address] = ingest.kafka_publish.brokers
    assert kafka_address == services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split("//")[1]
    assert flow_arguments(solflow["ingest"])[:2] == ["-r", "/app/recovery"]

    postgres = services["postgres"]["environment"]
    user_password = f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
    database = f"postgresql://{user_password}@postgres:5432/{postgres['POSTGRES_DB']}"
    minio = services["minio"]["environment"]
    members = ["member-0", "member-1"]
    for process_id, name in enumerate(members):
        env = environment(solflow[name])
        member = Settings.from_env(env)
        assert member.kafka_input == ingest.kafka_publish and member.kafka_publish is None
        assert member.sinks.local is False and member.sinks.postgres == database
        assert member.sinks.delta is not None and member.sinks.delta.startswith("s3://lake/")
        assert "mb -p local/lake" in services["lake"]["command"][-1]  # the bucket exists
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000" and env["AWS_ALLOW_HTTP"] == "true"
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            minio["MINIO_ROOT_USER"],
            minio["MINIO_ROOT_PASSWORD"],
        )
        arguments = flow_arguments(solflow[name])
        assert arguments[arguments.index("-i") + 1] == str(process_id)
        addresses = arguments[arguments.index("-a") + 1].split(";")
        assert [a.split(":")[0] for a in addresses] == members and solflow[name]["hostname"] == name
        port = int(env["SOLFLOW_METRICS_PORT"]) + process_id
        if process_id:
            assert f"127.0.0.1:{port}/healthz" in " ".join(solflow[name]["healthcheck"]["test"])
    assert partitions == {"ingest-recovery": 1, "member-recovery": len(members)}

    # A process stops when the brokers do not answer within 10 s of its start: start once Kafka answers.
    assert "--bootstrap-server localhost:9092" in services["kafka"]["healthcheck"]["test"][-1]
    for name in ("ingest", *members):
        assert solflow[name]["depends_on"]["kafka"] == {"condition": "service_healthy"}, name

    command = solflow["dashboard"]["command"]
    assert command[:2] == ["solflow", "dashboard"]
    parser = argparse.ArgumentParser()
    dashboard_command.add_arguments(parser)
    dashboard = parser.parse_args(command[2:])
    assert dashboard.db == database and dashboard.host == "0.0.0.0"
    assert solflow["dashboard"]["ports"] == [f"127.0.0.1:{dashboard.port}:{dashboard.port}"]
    assert f"127.0.0.1:{dashboard.port}/api/health" in " ".join(solflow["dashboard"]["healthcheck"]["test"])


def test_the_systemd_unit_parses_and_runs_the_flow(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string((DEPLOY / "solflow.service").read_text())
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["-m", "bytewax.run", "flows.solflow"]
    assert service["User"] not in ("root", "0") and service["KillSignal"] == "SIGTERM"
    assert "X_TOKEN" not in (DEPLOY / "solflow.service").read_text().split("[Unit]")[1]  # secrets stay in the env file
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit as a user installs it: paths point at this checkout."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    environment_file = tmp_path / "solflow.env"
    environment_file.write_text("GEYSER_URL=https://example.invalid:443\n")
    text = (DEPLOY / "solflow.service").read_text()
    text = text.replace("/opt/solflow/.venv/bin/python", sys.executable).replace("/opt/solflow", str(REPO_ROOT))
    text = text.replace("/etc/solflow/solflow.env", str(environment_file))
    installed = tmp_path / "solflow.service"
    installed.write_text(text)
    done = subprocess.run([verify, "verify", str(installed)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


# ---------------------------------------------------------------- paperwork


def test_license_and_changelog() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert (REPO_ROOT / "LICENSE").read_text().startswith("\n                                 Apache License")
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert f"## [{project['version']}]" in changelog
