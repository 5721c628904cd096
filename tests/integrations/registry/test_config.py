"""Registry configuration: validation and building instances."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from bot.errors import ConfigError
from integrations.registry.build import build_instance
from integrations.registry.config import MlflowRegistryConfig, RegistryConfig

ADAPTER: TypeAdapter[MlflowRegistryConfig] = TypeAdapter(RegistryConfig)


def test_a_full_config_parses() -> None:
    config = ADAPTER.validate_python(
        {
            "kind": "mlflow",
            "url": "https://mlflow.internal:5000/",
            "auth": {"type": "basic", "username": "bot", "password": {"file": "/run/secrets/pw"}},
            "http": {"retries": 1},
            "validated_tag": "qa_passed",
        }
    )
    assert config.url == "https://mlflow.internal:5000"
    assert config.auth.type == "basic"
    assert config.http.retries == 1
    assert config.validated_tag == "qa_passed"


def test_defaults() -> None:
    config = ADAPTER.validate_python({"kind": "mlflow", "url": "http://mlflow:5000"})
    assert config.auth.type == "none"
    assert config.validated_tag == "validated"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"kind": "mlflow", "url": "mlflow:5000"}, "must start with http:// or https://"),
        ({"kind": "mlflow", "url": "http://m", "token": "x"}, "Extra inputs are not permitted"),
        ({"kind": "sagemaker", "url": "http://m"}, "does not match any of the expected tags"),
        (
            {"kind": "mlflow", "url": "http://m", "auth": {"type": "bearer", "token": "inline"}},
            "a secret is not written in the config itself",
        ),
    ],
)
def test_invalid_configs_are_refused(raw: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        ADAPTER.validate_python(raw)


def test_a_missing_credential_fails_when_the_instance_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    config = ADAPTER.validate_python(
        {
            "kind": "mlflow",
            "url": "http://m",
            "auth": {"type": "bearer", "token": {"env": "NO_SUCH_TOKEN"}},
        }
    )
    with pytest.raises(ConfigError, match="NO_SUCH_TOKEN is not set"):
        build_instance("prod", config)
