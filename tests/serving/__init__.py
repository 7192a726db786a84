"""Tests of the serving package (TorchServe)."""
