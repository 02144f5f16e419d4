"""Offline analysis of the flow's Parquet outputs: top mints, one mint's trace, recent signals, plots.

Plain functions over Polars lazy scans of ``<out>/{trades,aggregates,signals}`` (``solflow.analysis.outputs``);
each returns a small result with ``as_json()``. ``solflow top|trace|signals|plot`` (``solflow.cli.analysis``)
prints them with ``solflow.analysis.render``. Problems with the outputs or the question raise ``AnalysisError``.

>>> from solflow.analysis import top_mints
>>> top_mints(Path("out"), window=300, by="net_flow", limit=20).rows  # doctest: +SKIP
"""

from solflow.analysis.outputs import AnalysisError
from solflow.analysis.plot import PlotSummary, plot_mint
from solflow.analysis.recent import RecentSignals, recent_signals
from solflow.analysis.top import RANKINGS, TopMints, top_mints
from solflow.analysis.trace import MintTrace, trace_mint

__all__ = [
    "RANKINGS",
    "AnalysisError",
    "MintTrace",
    "PlotSummary",
    "RecentSignals",
    "TopMints",
    "plot_mint",
    "recent_signals",
    "top_mints",
    "trace_mint",
]
