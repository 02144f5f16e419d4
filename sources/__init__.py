"""Bytewax sources: the Yellowstone gRPC source and the capture-file format it replays."""
