"""SolFlow's wire-compatible Yellowstone (geyser) and Solana storage protobuf modules.

The ``*_pb2`` modules are generated from the ``.proto`` files beside them by
``python -m protos.generate`` and committed; a test fails when they are stale. Importing the
package warns when protobuf runs on a backend other than upb, which decodes ~100x slower.
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
