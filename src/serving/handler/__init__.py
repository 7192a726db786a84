"""The TorchServe handler shipped as a file inside every model archive (not imported by us)."""
