"""Yellowstone gRPC replay server: serves capture files as a geyser.Geyser endpoint."""
