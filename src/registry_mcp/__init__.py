"""Model registry on MLflow: versions, stages, cards, tags and an audit trail."""

__version__ = "0.1.0"
