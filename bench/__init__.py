"""Throughput benchmarks: ``solflow bench`` or ``python -m bench``."""
