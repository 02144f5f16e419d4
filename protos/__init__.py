"""SolFlow's wire-compatible Yellowstone (geyser) and Solana storage protobuf modules.

The ``*_pb2`` modules are generated from the ``.proto`` files beside them by
``python -m protos.generate`` and committed; a test fails when they are stale.
"""
