"""Serving: everything that talks to a model server or Kubernetes (gets desired state as data).

Modules, one job each:

- ``errors``      ServingError and its closed set of codes
- ``config``      schema and loader of configs/models.yaml
- ``naming``      served model names, TorchServe versions, archive file names
- ``archive``     MLflow model directory -> .mar in the model store (cached by content)
- ``safe_model``  loading our safe model format and checking inputs (every backend)
- ``handler/``    the TorchServe handler glue shipped inside every archive (with safe_model)
- ``schemas``     typed results of the TorchServe client
- ``keyfile``     reading TorchServe's key_file.json
- ``torchserve``  the only HTTP client of TorchServe
- ``backend``     the serving backend interface, and TorchServe's implementation of it
- ``kserve/``     KServe's model server as the second backend (Open Inference Protocol v2)
- ``local``       start / stop / status of a local TorchServe process
- ``rollout``     desired versions -> plan, reconcile, verified set-default, drift report
"""
