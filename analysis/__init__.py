"""Offline analysis of the Parquet/SQLite outputs: top mints, traces, signals, plots."""
