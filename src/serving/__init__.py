"""Serving: everything that talks to TorchServe or Kubernetes (receives desired state as data)."""
