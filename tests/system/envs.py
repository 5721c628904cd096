"""The virtual environments of the real servers the system tests start, by name.

The name is the cache folder's prefix (``tests/system/servers.py``) and the pin file
``tests/system/constraints/<name>.txt``: each environment is installed with its own
constraints (their pins conflict with ours and with each other). ``.ci/refresh-constraints``
resolves each list afresh and rewrites its file.
"""

from __future__ import annotations

from tests.system.fixtures.airflow import AIRFLOW2_REQUIREMENTS, AIRFLOW_REQUIREMENTS
from tests.system.fixtures.mlflow import MLFLOW_REQUIREMENTS
from tests.system.fixtures.mlserver import MLSERVER_REQUIREMENTS
from tests.system.fixtures.prefect import PREFECT_REQUIREMENTS

SERVER_ENVS: dict[str, list[str]] = {
    "airflow": AIRFLOW_REQUIREMENTS,
    "airflow2": AIRFLOW2_REQUIREMENTS,
    "mlflow": MLFLOW_REQUIREMENTS,
    "mlserver": MLSERVER_REQUIREMENTS,
    "prefect": PREFECT_REQUIREMENTS,
}
