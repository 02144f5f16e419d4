"""The control store ``<out>/control.db`` (``solflow.control``) and its commands
``solflow block|unblock|blocklist|follow|unfollow|followed``, as users run them: real subprocesses,
real SQLite files, and a real ``solflow.db`` of the flow for the chain time blocks are stamped with."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_flow_support import assert_ok, flow_env, run_flow, sample_capture

from solflow.control import (
    Block,
    Clock,
    ControlError,
    ControlReader,
    ControlStore,
    latest_event_time,
    parse_duration,
    pipeline_clock,
)

SOLFLOW = Path(sys.executable).with_name("solflow")
CLI = [str(SOLFLOW)] if SOLFLOW.exists() else [sys.executable, "-m", "solflow.cli.main"]
MINT = "5BUuKFLy9eSMnkCQNRK2VXb8UQuBosTsKSV9wz7N47dR"
OTHER = "EmVG97ZcTKTxXX6c6BCU9QvXVn6TerdccxNpHDfVCvNJ"


def solflow(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=60)


def one_error_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"solflow {command}: error: ")
    return line


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flow run's outputs over the sample (its solflow.db gives the chain time)."""
    out = tmp_path_factory.mktemp("control") / "out"
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off")))
    return out


@pytest.fixture()
def fresh_out(out: Path, tmp_path: Path) -> Path:
    """A copy of the run's solflow.db alone, so each test starts without a control store."""
    fresh = tmp_path / "out"
    fresh.mkdir()
    source = sqlite3.connect(out / "solflow.db")
    target = sqlite3.connect(fresh / "solflow.db")
    source.backup(target)
    source.close()
    target.close()
    return fresh


def chain_time(out: Path) -> int:
    db = sqlite3.connect(out / "solflow.db")
    try:
        (latest,) = db.execute("SELECT max(ts) FROM token_aggregates").fetchone()
    finally:
        db.close()
    return int(latest)


def test_parse_duration() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("24h") == 86_400
    assert parse_duration("7d") == 604_800
    assert parse_duration("1h30m") == 5400
    assert parse_duration(" 2W ") == 1_209_600
    for bad in ("", "24", "h", "1.5h", "-1h", "0m", "1h30", "24 hours"):
        with pytest.raises(ControlError, match="bad duration"):
            parse_duration(bad)


def test_block_starts_at_the_chain_time_and_expires_on_it(fresh_out: Path) -> None:
    now = chain_time(fresh_out)
    assert pipeline_clock(fresh_out / "solflow.db") == Clock(now, "chain")
    with ControlStore(fresh_out / "control.db") as store:
        block = store.block(MINT, at=pipeline_clock(fresh_out / "solflow.db"), duration_s=3600, reason="rug")
        permanent = store.block(OTHER, at=Clock(now, "chain"))
        assert block == Block(MINT, "rug", "cli", now, now + 3600, "chain")
        listed = store.blocklist()
    assert listed.blocks == {MINT: block, OTHER: permanent}
    # Event time decides: blocked before the expiry (older data included), free from it on.
    assert listed.blocked_at(MINT, now - 86_400)
    assert listed.blocked_at(MINT, now + 3599)
    assert not listed.blocked_at(MINT, now + 3600)
    assert listed.blocked_at(OTHER, now + 10**9)
    assert listed.active_at(now + 3600) == {OTHER}
    assert not listed.blocked_at("So11111111111111111111111111111111111111112", now)


def test_without_data_the_block_is_timed_by_the_wall_clock(tmp_path: Path) -> None:
    before = int(time.time())
    clock = pipeline_clock(tmp_path / "solflow.db")  # no database at all
    assert clock.source == "wall" and before <= clock.time <= before + 5
    result = solflow("block", MINT, "--for", "1h", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no event in the pipeline database yet" in result.stderr and "wall clock" in result.stderr
    [row] = sqlite3.connect(tmp_path / "control.db").execute(
        "SELECT clock, expires_at - created_at FROM mint_blocklist"
    )
    assert row == ("wall", 3600)


def test_reader_sees_commits_of_other_processes_only_when_they_happen(fresh_out: Path) -> None:
    reader = ControlReader(fresh_out / "control.db")
    assert not reader.refresh()  # no store yet: empty, nothing changed
    assert reader.blocklist.blocks == {}

    result = solflow("block", MINT, "--for", "24h", "--reason", "honeypot", "--out", fresh_out)
    assert result.returncode == 0, result.stderr
    assert reader.refresh()
    assert reader.blocklist.blocked_at(MINT, chain_time(fresh_out))
    assert reader.blocklist.blocks[MINT].reason == "honeypot"
    assert not reader.refresh()  # no new commit: the snapshot stays
    kept = reader.blocklist

    assert solflow("follow", OTHER, "--out", fresh_out).returncode == 0
    assert reader.refresh()
    assert set(reader.followed) == {OTHER}
    assert reader.blocklist == kept

    assert solflow("unblock", MINT, "--out", fresh_out).returncode == 0
    assert reader.refresh()
    assert reader.blocklist.blocks == {}

    # A store replaced by another file (a new inode) is reopened.
    (fresh_out / "control.db").unlink()
    assert reader.refresh()
    assert reader.followed == {} and reader.blocklist.blocks == {}
    with ControlStore(fresh_out / "control.db") as store:
        store.block(OTHER, at=Clock(1, "chain"))
    assert reader.refresh()
    assert set(reader.blocklist.blocks) == {OTHER} and reader.followed == {}
    reader.close()


def test_block_commands(fresh_out: Path) -> None:
    now = chain_time(fresh_out)
    result = solflow("block", MINT, "--for", "30m", "--reason", "rug pull", "--out", fresh_out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"blocked {MINT} until ")
    assert "(chain time): rug pull" in result.stdout
    assert result.stderr == ""
    assert solflow("block", OTHER, "--out", fresh_out).stdout == f"blocked {OTHER} until unblocked\n"

    listed = solflow("blocklist", "--json", "--out", fresh_out)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["chain_time"] == now
    by_mint = {b["mint"]: b for b in document["blocks"]}
    assert by_mint[MINT] == {"mint": MINT, "reason": "rug pull", "blocked_by": "cli", "created_at": now,
                             "expires_at": now + 1800, "clock": "chain", "active": True}  # fmt: skip
    assert by_mint[OTHER]["expires_at"] is None

    table = solflow("blocklist", "--out", fresh_out)
    assert table.returncode == 0 and "active" in table.stdout and "rug pull" in table.stdout
    assert f"{MINT[:4]}…{MINT[-4:]}" in table.stdout and max(map(len, table.stdout.splitlines())) <= 80
    wide = solflow("blocklist", "--wide", "--out", fresh_out)
    assert wide.returncode == 0 and MINT in wide.stdout

    # Blocking again replaces the block; unblocking twice is an error the second time.
    solflow("block", MINT, "--reason", "changed my mind", "--out", fresh_out)
    again = {b["mint"]: b for b in json.loads(solflow("blocklist", "--json", "--out", fresh_out).stdout)["blocks"]}
    assert again[MINT]["expires_at"] is None and again[MINT]["reason"] == "changed my mind"
    assert solflow("unblock", MINT, "--out", fresh_out).stdout == f"unblocked {MINT}\n"
    line = one_error_line(solflow("unblock", MINT, "--out", fresh_out), "unblock")
    assert f"{MINT} is not blocked" in line
    assert [b["mint"] for b in json.loads(solflow("blocklist", "--json", "--out", fresh_out).stdout)["blocks"]] == [
        OTHER
    ]


def test_an_expired_block_is_listed_as_expired(fresh_out: Path) -> None:
    now = chain_time(fresh_out)
    with ControlStore(fresh_out / "control.db") as store:
        store.block(MINT, at=Clock(now - 7200, "chain"), duration_s=3600)
    [block] = json.loads(solflow("blocklist", "--json", "--out", fresh_out).stdout)["blocks"]
    assert block["active"] is False and block["expires_at"] == now - 3600
    assert "expired" in solflow("blocklist", "--out", fresh_out).stdout


def test_follow_commands(fresh_out: Path) -> None:
    assert solflow("followed", "--out", fresh_out).stdout == "no mint is followed\n"
    result = solflow("follow", MINT, "--out", fresh_out)
    assert result.returncode == 0 and result.stdout.startswith(f"following {MINT}")
    solflow("follow", MINT, "--out", fresh_out)  # following twice keeps one entry
    [follow] = json.loads(solflow("followed", "--json", "--out", fresh_out).stdout)["followed"]
    assert follow == {"mint": MINT, "followed_by": "cli", "created_at": chain_time(fresh_out), "clock": "chain"}
    table = solflow("followed", "--out", fresh_out).stdout
    assert f"{MINT[:4]}…{MINT[-4:]}" in table and "chain" in table and max(map(len, table.splitlines())) <= 80
    assert solflow("unfollow", MINT, "--out", fresh_out).returncode == 0
    assert "is not followed" in one_error_line(solflow("unfollow", MINT, "--out", fresh_out), "unfollow")


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    assert "is not a mint address" in one_error_line(solflow("block", "not-a-mint", "--out", tmp_path), "block")
    assert "bad duration" in one_error_line(solflow("block", MINT, "--for", "soon", "--out", tmp_path), "block")
    assert "is not a mint address" in one_error_line(solflow("follow", "0xabc", "--out", tmp_path), "follow")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "control.db").write_text("not a database, just text that is long enough to look like one" * 20)
    line = one_error_line(solflow("block", MINT, "--out", tmp_path / "bad"), "block")
    assert "is not a usable control store" in line
    (tmp_path / "newer").mkdir()
    newer = sqlite3.connect(tmp_path / "newer" / "control.db")
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    assert "written by a newer SolFlow" in one_error_line(
        solflow("blocklist", "--out", tmp_path / "newer"), "blocklist"
    )


def test_the_flow_database_is_only_read(fresh_out: Path) -> None:
    before = (fresh_out / "solflow.db").read_bytes()
    for args in (("block", MINT, "--for", "1h"), ("follow", OTHER), ("blocklist",), ("unblock", MINT)):
        assert solflow(*args, "--out", fresh_out).returncode == 0
    assert (fresh_out / "solflow.db").read_bytes() == before
    db = sqlite3.connect(f"file:{fresh_out / 'solflow.db'}?mode=ro", uri=True)
    assert latest_event_time(db) == chain_time(fresh_out)
    db.close()
