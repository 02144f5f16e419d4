"""Bytewax dataflows. ``python -m bytewax.run flows.solflow`` runs the main one."""
