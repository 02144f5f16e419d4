"""Bytewax sinks: legacy JSONL and SQLite writers, Parquet datasets via Polars."""
