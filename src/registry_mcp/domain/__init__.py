"""The registry's vocabulary and pure rules: types, stages, cards, plans, validation.

No I/O, and no import of any other layer (tests/test_layers.py)."""
