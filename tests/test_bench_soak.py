"""``python -m solflow.bench.soak`` on a short run: a live flow through cuts and a burst keeps every
served trade (written once or inside a gap), and the report says so."""

from __future__ import annotations

from pathlib import Path

from test_flow_support import sample_capture

from solflow.bench.soak import soak


def test_a_short_soak_through_cuts_and_a_burst_loses_nothing(tmp_path: Path) -> None:
    report = soak(sample_capture(), seconds=45, trades_per_s=500, cut_every_s=12, work=tmp_path)
    assert report["exit_status"] == 0, (tmp_path / "flow.log").read_text()[-3000:]
    assert report["cuts"] == 3 and report["bursts"] == 1
    assert report["reconnects"] >= 3 * 5  # every partition's stream was cut each time
    assert report["served_trades"] > 10_000 and report["unexplained"] == 0
    assert report["written_and_served"] + report["in_gaps"] == report["served_trades"]
    assert report["parquet_trades"] == report["written_trades"] == report["summary_trades"]
    assert len(report["rss_kib"]) >= 4 and all(kib > 0 for _, kib in report["rss_kib"])
