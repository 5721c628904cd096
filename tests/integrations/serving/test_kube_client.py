"""The thin Kubernetes client against the fake API server: credentials, TLS, errors."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from bot.errors import ConfigError, RejectedIntegrationError, RetryableIntegrationError
from integrations.http import HttpPolicy
from integrations.kube import credentials as kube_credentials
from integrations.kube.client import MERGE_PATCH, KubeClient, is_conflict
from integrations.kube.config import InClusterSource, KubeconfigSource
from integrations.kube.credentials import load_credentials
from tests.fakes.kube_api import FakeKubeApi, TlsFiles, serve
from tests.integrations.serving.conftest import NAMESPACE, READ_ONLY_TOKEN, TOKEN, write_kubeconfig
from tests.integrations.serving.pki import Pki

PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices/fraud-detector"
NO_RETRY = HttpPolicy(retries=0, backoff_initial_s=1)


def client_for(kubeconfig: Path, context: str | None = None) -> KubeClient:
    source = KubeconfigSource(type="kubeconfig", path=kubeconfig, context=context)
    return KubeClient(load_credentials(source), policy=NO_RETRY)


@pytest.fixture
def isvc(kube_api: FakeKubeApi) -> None:
    kube_api.add_inference_service(NAMESPACE, "fraud-detector", "s3://models/fraud/v2")


async def test_token_from_kubeconfig_reads_and_patches(
    kube_api: FakeKubeApi, kube_url: str, tmp_path: Path, isvc: None
) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": TOKEN}))
    obj = await client.get(PATH, call="reading")
    rv = obj["metadata"]["resourceVersion"]
    patched = await client.merge_patch(
        PATH,
        {"metadata": {"resourceVersion": rv, "annotations": {"team": "fraud"}}},
        call="patching",
    )
    await client.aclose()
    assert patched["metadata"]["annotations"]["team"] == "fraud"
    assert int(patched["metadata"]["resourceVersion"]) > int(rv)
    assert kube_api.patches()[0].content_type == MERGE_PATCH
    assert client.credentials.namespace == NAMESPACE


async def test_refused_token_is_401_and_never_shown(kube_url: str, tmp_path: Path, isvc: None) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": "stolen-secret"}))
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.get(PATH, call="reading InferenceService ml/fraud-detector")
    await client.aclose()
    error = caught.value
    assert error.status == 401
    assert "Unauthorized" in error.message
    assert "kubeconfig user or the service account token" in str(error)
    assert "stolen-secret" not in str(error) + repr(error) + repr(client.credentials)


async def test_missing_verb_is_403_with_rbac_hint(kube_url: str, tmp_path: Path, isvc: None) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": READ_ONLY_TOKEN}))
    await client.get(PATH, call="reading")
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.merge_patch(PATH, {"metadata": {"labels": {"a": "b"}}}, call="patching")
    await client.aclose()
    assert caught.value.status == 403
    assert 'cannot patch resource "inferenceservices"' in caught.value.message
    assert "RoleBinding" in str(caught.value.hint)


async def test_unknown_object_is_404_naming_it(kube_url: str, tmp_path: Path) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": TOKEN}))
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.get(PATH, call="reading InferenceService ml/fraud-detector")
    await client.aclose()
    assert caught.value.status == 404
    assert 'NotFound: inferenceservices.serving.kserve.io "fraud-detector" not found' in str(caught.value)


async def test_stale_resource_version_is_a_conflict(kube_url: str, tmp_path: Path, isvc: None) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": TOKEN}))
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.merge_patch(PATH, {"metadata": {"resourceVersion": "1"}}, call="patching")
    await client.aclose()
    assert is_conflict(caught.value)
    assert "the object has been modified" in caught.value.message


async def test_invalid_value_is_422_with_the_field(kube_url: str, tmp_path: Path, isvc: None) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": TOKEN}))
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.merge_patch(
            PATH, {"spec": {"predictor": {"canaryTrafficPercent": "ten"}}}, call="patching"
        )
    await client.aclose()
    assert caught.value.status == 422
    assert "spec.predictor.canaryTrafficPercent" in caught.value.message


async def test_fake_refuses_strategic_merge_patch_like_the_api_server(kube_url: str, isvc: None) -> None:
    async with httpx.AsyncClient(base_url=kube_url) as raw:
        response = await raw.patch(
            PATH,
            content=b"{}",
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/strategic-merge-patch+json",
            },
        )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


async def test_access_review_answers_per_verb(kube_url: str, tmp_path: Path) -> None:
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"token": READ_ONLY_TOKEN}))
    get = await client.can_i(
        "get", group="serving.kserve.io", resource="inferenceservices", namespace=NAMESPACE
    )
    patch = await client.can_i(
        "patch", group="serving.kserve.io", resource="inferenceservices", namespace=NAMESPACE
    )
    version = await client.server_version()
    await client.aclose()
    assert get[0] is True
    assert patch[0] is False
    assert version == "v1.31.0-fake"


async def test_token_file_is_read_again_when_rotated(
    kube_url: str, tmp_path: Path, isvc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_credentials, "TOKEN_REFRESH_S", 0.0)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    client = client_for(write_kubeconfig(tmp_path / "kc", kube_url, {"tokenFile": "token"}))
    await client.get(PATH, call="reading")
    token_file.write_text("revoked")
    with pytest.raises(RejectedIntegrationError) as caught:
        await client.get(PATH, call="reading")
    await client.aclose()
    assert caught.value.status == 401


def tls_kubeconfig(path: Path, url: str, pki: Pki, user: Mapping[str, object]) -> Path:
    ca_data = base64.b64encode(pki.ca.read_bytes()).decode()
    return write_kubeconfig(path, url, dict(user), cluster={"certificate-authority-data": ca_data})


async def test_tls_with_cluster_ca_from_kubeconfig(kube_api: FakeKubeApi, tmp_path: Path, pki: Pki) -> None:
    kube_api.add_inference_service(NAMESPACE, "fraud-detector", "s3://m/v1")
    with serve(kube_api, TlsFiles(pki.server_cert, pki.server_key)) as url:
        good = client_for(tls_kubeconfig(tmp_path / "kc", url, pki, {"token": TOKEN}))
        obj = await good.get(PATH, call="reading")
        await good.aclose()
        # Without the cluster CA the server's certificate is not trusted.
        untrusting = client_for(write_kubeconfig(tmp_path / "kc2", url, {"token": TOKEN}))
        with pytest.raises(RetryableIntegrationError) as caught:
            await untrusting.get(PATH, call="reading")
        await untrusting.aclose()
    assert obj["metadata"]["name"] == "fraud-detector"
    assert "cannot connect" in caught.value.message


async def test_client_certificate_for_mutual_tls(kube_api: FakeKubeApi, tmp_path: Path, pki: Pki) -> None:
    kube_api.cert_user_verbs = {"get"}
    kube_api.add_inference_service(NAMESPACE, "fraud-detector", "s3://m/v1")
    cert = {
        "client-certificate-data": base64.b64encode(pki.client_cert.read_bytes()).decode(),
        "client-key-data": base64.b64encode(pki.client_key.read_bytes()).decode(),
    }
    files = {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
    tls = TlsFiles(pki.server_cert, pki.server_key, client_ca=pki.ca)
    with serve(kube_api, tls) as url:
        for user in (cert, files):
            client = client_for(tls_kubeconfig(tmp_path / "kc", url, pki, user))
            assert (await client.get(PATH, call="reading"))["metadata"]["name"] == "fraud-detector"
            await client.aclose()
        anonymous = client_for(tls_kubeconfig(tmp_path / "kc", url, pki, {}))
        with pytest.raises(RetryableIntegrationError):
            await anonymous.get(PATH, call="reading")
        await anonymous.aclose()


async def test_in_cluster_service_account(
    kube_api: FakeKubeApi, tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_api.add_inference_service("fraud-team", "fraud-detector", "s3://m/v1")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_bytes(pki.ca.read_bytes())
    (account / "namespace").write_text("fraud-team\n")
    with serve(kube_api, TlsFiles(pki.server_cert, pki.server_key)) as url:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", url.rsplit(":", 1)[1])
        creds = load_credentials(InClusterSource(type="in_cluster", service_account_dir=account))
        client = KubeClient(creds, policy=NO_RETRY)
        obj = await client.get(PATH.replace(f"/{NAMESPACE}/", "/fraud-team/"), call="reading")
        await client.aclose()
    assert creds.namespace == "fraud-team"
    assert obj["metadata"]["namespace"] == "fraud-team"


def test_in_cluster_outside_a_pod_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST is not set"):
        load_credentials(InClusterSource(type="in_cluster", service_account_dir=tmp_path))


def test_in_cluster_without_token_says_so(tmp_path: Path) -> None:
    source = InClusterSource(type="in_cluster", service_account_dir=tmp_path, server="https://10.0.0.1")
    with pytest.raises(ConfigError, match="no service account token"):
        load_credentials(source)


def test_exec_plugins_are_refused_with_a_hint(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "kc", "https://k8s:6443", {"exec": {"command": "aws", "args": ["eks", "get-token"]}}
    )
    with pytest.raises(ConfigError) as caught:
        client_for(kubeconfig)
    assert "exec and auth-provider" in caught.value.message
    assert "service account" in str(caught.value.hint)


def test_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", "https://k8s:6443", {"token": TOKEN})
    with pytest.raises(ConfigError, match="no context named 'prod'") as caught:
        client_for(kubeconfig, context="prod")
    assert caught.value.hint == "known: test"


def test_missing_kubeconfig_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read kubeconfig .*/absent"):
        client_for(tmp_path / "absent")
