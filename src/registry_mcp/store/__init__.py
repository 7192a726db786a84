"""Persistence: MLflow adapter, fast catalog reads, audit, proposals, locks, migrations.

Imports ``domain`` only (tests/test_layers.py)."""
