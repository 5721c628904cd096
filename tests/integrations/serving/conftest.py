from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from integrations.serving.build import build_instance
from integrations.serving.config import KServeConfig
from integrations.serving.kserve import KServeServing
from tests.fakes.kube_api import FakeKubeApi, serve
from tests.integrations.serving.pki import Pki, make_pki

NAMESPACE = "ml"
TOKEN = "token-of-the-bot"
READ_ONLY_TOKEN = "token-read-only"


@pytest.fixture
def kube_api() -> FakeKubeApi:
    return FakeKubeApi(tokens={TOKEN: {"get", "patch"}, READ_ONLY_TOKEN: {"get"}})


@pytest.fixture
def kube_url(kube_api: FakeKubeApi) -> Iterator[str]:
    with serve(kube_api) as url:
        yield url


def write_kubeconfig(
    path: Path,
    server: str,
    user: dict[str, object],
    cluster: dict[str, object] | None = None,
    namespace: str | None = NAMESPACE,
) -> Path:
    context: dict[str, object] = {"cluster": "test", "user": "bot"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": server, **(cluster or {})}}],
                "users": [{"name": "bot", "user": user}],
                "contexts": [{"name": "test", "context": context}],
            }
        )
    )
    return path


def kserve_config(kubeconfig: Path, **extra: object) -> KServeConfig:
    return KServeConfig.model_validate(
        {
            "kind": "kserve",
            "cluster": {"type": "kubeconfig", "path": str(kubeconfig)},
            "fallbacks": {"fraud-detector": {"model_uri": "s3://models/fraud-baseline"}},
            "http": {"retries": 0, "backoff_initial_s": 1},
            **extra,
        }
    )


@pytest.fixture
async def kserve(kube_url: str, tmp_path: Path) -> AsyncIterator[KServeServing]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url, {"token": TOKEN})
    layer = build_instance("prod-kserve", kserve_config(kubeconfig))
    assert isinstance(layer, KServeServing)
    yield layer
    await layer.aclose()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
