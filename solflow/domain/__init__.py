"""The pure domain of SolFlow: records, decoding, windows, bots, signals and aggregation.

Nothing here imports Bytewax or does I/O (files, sockets, databases, the clock), so every stage
can be called directly by tests and by any runtime.
"""
