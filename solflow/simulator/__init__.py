"""Deterministic market simulator producing realistic SubscribeUpdate transactions."""
