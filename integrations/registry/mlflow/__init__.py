"""MLflow model registry over its REST API (``/api/2.0/mlflow/...``)."""
