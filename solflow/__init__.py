"""SolFlow domain layer: trades, decoding, rolling windows and signals.

Plain functions and small classes with no Bytewax and no I/O, so tests call them directly.
"""

import warnings

from google.protobuf.internal import api_implementation

PROTOBUF_BACKEND = api_implementation.Type()

if PROTOBUF_BACKEND != "upb":
    warnings.warn(
        f"protobuf is using the {PROTOBUF_BACKEND!r} backend, not 'upb': decoding will be ~100x slower. "
        "Install a protobuf wheel with the upb backend and unset PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION.",
        RuntimeWarning,
        stacklevel=2,
    )
