"""The `modelreg` command line."""
