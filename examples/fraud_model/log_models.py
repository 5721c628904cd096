"""Register the example fraud model in MLflow: v1 good, v2 bad, and ``champion`` on v2.

Both versions are real pyfunc models (a threshold on the transaction amount): v1 flags amounts
above 0.5, which is the truth; v2 flags amounts above 0.1, so 40 % of its predictions are
wrong. v1 is tagged ``validated=true``; promoting v2 to ``champion`` is the bad release the
bot then rolls back. Runs where ``mlflow`` and ``pandas`` are installed (``'.[demo]'``)::

    python log_models.py http://127.0.0.1:5000 fraud-detector

Prints ``{"good": "1", "bad": "2"}`` (the version numbers) on its last line.
"""

from __future__ import annotations

import json
import sys

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature


class Threshold(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> pd.DataFrame:
        return pd.DataFrame({"fraud": (model_input["amount"] > self.threshold).astype(float)})


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(url)
    signature = infer_signature(pd.DataFrame({"amount": [0.7]}), pd.DataFrame({"fraud": [1.0]}))
    versions = {}
    for label, threshold in (("good", 0.5), ("bad", 0.1)):
        with mlflow.start_run(run_name=f"{name}-{label}"):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Threshold(threshold),
                signature=signature,
                registered_model_name=name,
                pip_requirements=["mlflow", "pandas"],
            )
        versions[label] = str(info.registered_model_version)
    client = MlflowClient(url)
    client.set_model_version_tag(name, versions["good"], "validated", "true")
    client.set_registered_model_alias(name, "champion", versions["bad"])
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
