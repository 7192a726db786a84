"""Registry -> serving: build archives, make TorchServe follow the approved versions."""
