"""Model registry on MLflow: versions, stages, cards, tags and an audit trail."""

__version__ = "0.1.0"

import os as _os

# MLflow must never try to reach the network; set before MLflow is first imported.
_os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
