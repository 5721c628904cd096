"""Turn a kubeconfig file or the in-cluster service account into server URL, TLS and auth.

Supported, as kubectl reads them: ``certificate-authority`` / ``-data``,
``insecure-skip-tls-verify``, ``token``, ``tokenFile``, ``client-certificate`` /
``client-key`` (file or ``-data``) and ``username`` / ``password``. Exec and auth-provider
plugins (cloud CLIs) are refused with a hint: give the bot a service-account token instead.
Token files are read again every minute, since Kubernetes rotates projected tokens.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import SecretStr

from bot.errors import ConfigError
from integrations.kube.config import ClusterSource, InClusterSource, KubeconfigSource

TOKEN_REFRESH_S = 60.0


@dataclass(frozen=True)
class ClusterCredentials:
    """What a client needs to talk to one API server. Holds no secret in its repr."""

    server: str
    verify: ssl.SSLContext | bool
    auth: httpx.Auth | None
    namespace: str | None
    #: Human description for errors, e.g. "kubeconfig /etc/bot/kubeconfig, context prod".
    source: str


class StaticTokenAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class TokenFileAuth(httpx.Auth):
    """Bearer token read from a file, re-read at most every ``TOKEN_REFRESH_S`` seconds."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._token: SecretStr | None = None
        self._read_at = 0.0

    def _current(self) -> SecretStr:
        if self._token is None or time.monotonic() - self._read_at > TOKEN_REFRESH_S:
            self._token = SecretStr(_read_text(self._path, "token file").strip())
            self._read_at = time.monotonic()
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._current().get_secret_value()}"
        yield request


def load_credentials(source: ClusterSource) -> ClusterCredentials:
    if isinstance(source, KubeconfigSource):
        return _from_kubeconfig(source)
    return _in_cluster(source)


def _in_cluster(source: InClusterSource) -> ClusterCredentials:
    root = source.service_account_dir
    server = source.server
    if server is None:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ConfigError(
                "in-cluster Kubernetes config: KUBERNETES_SERVICE_HOST is not set",
                hint="the bot is not running in a pod; use `type: kubeconfig` or set `server`",
            )
        server = f"https://{_bracket_ipv6(host)}:{port}"
    token_path = root / "token"
    if not token_path.is_file():
        raise ConfigError(
            f"in-cluster Kubernetes config: no service account token at {token_path}",
            hint="check that the pod mounts a service account token "
            "(automountServiceAccountToken) or set service_account_dir",
        )
    ca_path = root / "ca.crt"
    verify = _ssl_context(cafile=ca_path if ca_path.is_file() else None)
    namespace_file = root / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
    return ClusterCredentials(
        server=server,
        verify=verify,
        auth=TokenFileAuth(token_path),
        namespace=namespace,
        source=f"in-cluster service account ({root})",
    )


def _from_kubeconfig(source: KubeconfigSource) -> ClusterCredentials:
    path = source.path.expanduser()
    try:
        doc = yaml.safe_load(_read_text(path, "kubeconfig")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    context_name = source.context or doc.get("current-context")
    if not context_name:
        raise ConfigError(
            f"kubeconfig {path} has no current-context",
            hint="set `context` in the serving instance's cluster config",
        )
    described = f"kubeconfig {path}, context {context_name}"
    context = _named(doc, "contexts", "context", context_name, path)
    cluster = _named(doc, "clusters", "cluster", context.get("cluster"), path)
    user = _named(doc, "users", "user", context.get("user"), path) if context.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"{described}: cluster {context.get('cluster')!r} has no server")
    base = path.parent
    verify: ssl.SSLContext | bool
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    else:
        verify = _ssl_context(
            cafile=_path(cluster.get("certificate-authority"), base),
            cadata=_b64(cluster.get("certificate-authority-data"), described, "CA data"),
        )
    auth = _user_auth(user, base, described)
    if isinstance(verify, ssl.SSLContext):
        _load_client_cert(verify, user, base, described)
    return ClusterCredentials(
        server=str(server),
        verify=verify,
        auth=auth,
        namespace=context.get("namespace"),
        source=described,
    )


def _user_auth(user: dict[str, Any], base: Path, described: str) -> httpx.Auth | None:
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(
            f"{described}: exec and auth-provider credential plugins are not supported",
            hint="give the bot its own service account and put its token (or tokenFile) "
            "in the kubeconfig user",
        )
    if user.get("token"):
        return StaticTokenAuth(SecretStr(str(user["token"])))
    if user.get("tokenFile"):
        token_file = _path(user["tokenFile"], base)
        assert token_file is not None
        return TokenFileAuth(token_file)
    if user.get("username") and user.get("password"):
        return httpx.BasicAuth(str(user["username"]), str(user["password"]))
    return None


def _load_client_cert(context: ssl.SSLContext, user: dict[str, Any], base: Path, described: str) -> None:
    cert_file = _path(user.get("client-certificate"), base)
    key_file = _path(user.get("client-key"), base)
    cert_data = _b64(user.get("client-certificate-data"), described, "client certificate data")
    key_data = _b64(user.get("client-key-data"), described, "client key data")
    if not (cert_file or cert_data):
        return
    if not (key_file or key_data):
        raise ConfigError(f"{described}: the user has a client certificate but no client key")
    # ssl only loads certificate chains from files: write inline data to a private
    # temporary folder and delete it as soon as the context holds the key.
    with tempfile.TemporaryDirectory(prefix="incident-bot-kube-") as tmp:
        if cert_data:
            cert_file = Path(tmp) / "client.crt"
            cert_file.write_text(cert_data)
        if key_data:
            key_file = Path(tmp) / "client.key"
            key_file.touch(mode=0o600)
            key_file.write_text(key_data)
        assert cert_file is not None
        assert key_file is not None
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{described}: cannot load the client certificate and key ({type(exc).__name__})",
                hint="check that they are PEM and belong together",
            ) from None


def _ssl_context(cafile: Path | None = None, cadata: str | None = None) -> ssl.SSLContext:
    try:
        if cafile is None and cadata is None:
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=cafile, cadata=cadata)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load the cluster CA certificate ({type(exc).__name__}: {exc})",
            hint="check certificate-authority / certificate-authority-data (PEM)",
        ) from None


def _named(doc: dict[str, Any], section: str, key: str, name: Any, path: Path) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key) or {}
            if isinstance(value, dict):
                return value
    known = ", ".join(str(e.get("name")) for e in doc.get(section) or [] if isinstance(e, dict))
    raise ConfigError(
        f"kubeconfig {path}: no {key} named {name!r} in {section}",
        hint=f"known: {known or 'none'}",
    )


def _path(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    candidate = Path(str(value)).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _b64(value: Any, described: str, what: str) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigError(f"{described}: {what} is not valid base64 PEM") from None


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} {path}: {exc.strerror}",
            hint="check the path and the bot's permissions",
        ) from None


def _bracket_ipv6(host: str) -> str:
    return f"[{host}]" if ":" in host else host
