"""Registry state as Prometheus metrics: approved versions, change history, per-model SLOs.

Imports ``core``, ``store`` and ``domain`` only (tests/test_layers.py)."""
