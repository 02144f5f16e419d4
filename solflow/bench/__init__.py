"""Throughput benchmarks: ``solflow bench`` or ``python -m solflow.bench``."""


class BenchError(RuntimeError):
    """A measure could not be taken (a run failed or produced wrong counts); the message says which."""
