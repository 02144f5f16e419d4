"""SolFlow: everything beyond the design card's ``flows``, ``sources``, ``sinks`` and ``protos``.

``solflow.domain`` (records, decoding, windows, signals; no Bytewax, no I/O), ``solflow.settings``,
``solflow.cli`` (the ``solflow`` command), ``solflow.server`` (the replay gRPC server),
``solflow.analysis``, ``solflow.simulator`` and ``solflow.bench``.
"""


def version() -> str:
    """The installed distribution's version ("unknown" in a source tree that was never installed)."""
    from importlib import metadata  # here, not at the top: it loads email, sockets and threads

    try:
        return metadata.version("solflow")
    except metadata.PackageNotFoundError:
        return "unknown"
