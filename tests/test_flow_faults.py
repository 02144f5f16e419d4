"""Off the happy path, end to end: ``python -m bytewax.run flows.solflow`` against damaged input and
the replay server's faults. Nothing is lost without a ``gaps`` row, nothing hangs, and what the
summary and ``run_stats`` say matches what is on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_flow_support import assert_ok, flow_env, read_outputs, run_flow, run_stats, sample_capture, summary_lines

from solflow.domain.programs import PUMPSWAP
from sources.capture import CaptureReader, CaptureWriter


@pytest.fixture(scope="module")
def capture() -> Path:
    return sample_capture()


def test_invalid_messages_are_counted_in_run_stats_and_the_summary(tmp_path: Path, capture: Path) -> None:
    damaged = tmp_path / "malformed.capture"
    with CaptureReader(capture) as reader, CaptureWriter(damaged, source="test") as writer:
        for n, raw in enumerate(reader):
            writer.write(raw)
            if n in (100, 2000):
                # a field claiming 96 bytes that holds 32: a program id, so the pass must parse it
                writer.write(b"\x0a\x60" + PUMPSWAP.id_bytes)
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert_ok(run_flow(flow_env(clean, capture, SOLFLOW_LEGACY="both")))
    result = run_flow(flow_env(out, damaged, SOLFLOW_LEGACY="both"))
    assert_ok(result)
    stats = run_stats(out)
    assert stats["invalid_messages"] == 2 * 5  # every partition's share of the pass skipped each one
    assert stats["end"] == "incomplete" and stats["finished"] == 0
    [summary] = summary_lines(result.stdout)
    assert summary.startswith("solflow run incomplete:") and "0 dropped, 10 invalid messages, 10 gaps" in summary
    written, expected = read_outputs(out), read_outputs(clean)
    assert written["sqlite.trades"] == expected["sqlite.trades"]  # the other messages all came through
    assert {row[4] for row in written["sqlite.gaps"]} == {"malformed_update"}
