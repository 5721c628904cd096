"""Session fixtures of the system tests (each starts a real server on first use)."""

from tests.system.fixtures.airflow import airflow2_server, airflow_server  # noqa: F401
from tests.system.fixtures.mission import fraud_model  # noqa: F401
from tests.system.fixtures.mlflow import mlflow_auth_server, mlflow_server  # noqa: F401
from tests.system.fixtures.mlserver import mlserver, mlserver_mlflow  # noqa: F401
from tests.system.fixtures.prefect import prefect_server  # noqa: F401
from tests.system.fixtures.prometheus import prometheus_server  # noqa: F401
