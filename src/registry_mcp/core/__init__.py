"""The registry service: reads and metadata writes, the stage machine, approvals, policy.

Imports ``store`` and ``domain`` only (tests/test_layers.py)."""
