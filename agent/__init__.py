"""Autonomic's daemon: settings, CLI, ledger, adapters and the loops that tie them together."""

__version__ = "0.1.0"
