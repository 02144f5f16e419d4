"""Offline analysis of the flow's Parquet outputs: top mints, one mint's trace, recent signals, plots.

Plain functions over Polars lazy scans of ``<out>/{trades,aggregates,signals}`` (``analysis.outputs``);
each returns a small result with ``as_json()``. ``solflow top|trace|signals|plot`` (``cli.analysis``)
prints them with ``analysis.render``. Problems with the outputs or the question raise ``AnalysisError``.

>>> from analysis import top_mints
>>> top_mints(Path("out"), window=300, by="net_flow", limit=20).rows  # doctest: +SKIP
"""

from analysis.outputs import AnalysisError
from analysis.plot import PlotSummary, plot_mint
from analysis.recent import RecentSignals, recent_signals
from analysis.top import RANKINGS, TopMints, top_mints
from analysis.trace import MintTrace, trace_mint

__all__ = [
    "AnalysisError",
    "MintTrace",
    "PlotSummary",
    "RANKINGS",
    "RecentSignals",
    "TopMints",
    "plot_mint",
    "recent_signals",
    "top_mints",
    "trace_mint",
]
