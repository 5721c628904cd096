"""Source kind → parser, one signature for all, and the config of one webhook source.

The webhook endpoint reads ``SourceConfig`` for ``/webhooks/{source}``, checks the request with
``auth.verify``, decodes the body with ``decode_json`` and calls ``parse_webhook``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bot.errors import ConfigError
from integrations.sources import alertmanager, datadog, generic, grafana, pagerduty
from integrations.sources._parsing import decode_json, format_loc
from integrations.sources.auth import WebhookAuthConfig
from integrations.sources.generic import GenericMapping
from integrations.sources.model import ParsedBatch

__all__ = [
    "CHECKERS",
    "PARSERS",
    "Accepted",
    "Parser",
    "SourceConfig",
    "SourceKind",
    "accept_webhook",
    "builtin_mapping",
    "builtin_mapping_names",
    "decode_json",
    "load_mapping",
    "parse_webhook",
]

SourceKind = Literal["alertmanager", "grafana", "pagerduty", "datadog", "generic"]


class Parser(Protocol):
    def __call__(
        self, body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
    ) -> ParsedBatch: ...


def _no_mapping(kind: SourceKind, mapping: GenericMapping | None) -> None:
    if mapping is not None:
        raise ConfigError(
            f"a {kind} source takes no mapping", hint="mappings are for sources of kind generic"
        )


def _unmapped(kind: SourceKind, parse: Callable[..., ParsedBatch]) -> Parser:
    """The registry's parser for a kind with a fixed format (every kind but generic)."""

    def parser(
        body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
    ) -> ParsedBatch:
        _no_mapping(kind, mapping)
        return parse(body, source_name=source_name, now=now)

    return parser


def _generic(
    body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
) -> ParsedBatch:
    if mapping is None:
        raise ConfigError(
            f"source {source_name!r} is generic but has no mapping",
            hint="set mapping: to a built-in name, a YAML file or an inline mapping",
        )
    return generic.parse(body, source_name=source_name, now=now, mapping=mapping)


PARSERS: Mapping[SourceKind, Parser] = {
    "alertmanager": _unmapped("alertmanager", alertmanager.parse),
    "grafana": _unmapped("grafana", grafana.parse),
    "pagerduty": _unmapped("pagerduty", pagerduty.parse),
    "datadog": _unmapped("datadog", datadog.parse),
    "generic": _generic,
}


def parse_webhook(
    kind: SourceKind, body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
) -> ParsedBatch:
    """Parse a decoded JSON body; InputError for a body of the wrong shape."""
    try:
        parser = PARSERS[kind]
    except KeyError:
        raise ConfigError(f"unknown source kind {kind!r}", hint=f"one of: {', '.join(PARSERS)}") from None
    return parser(body, source_name=source_name, now=now, mapping=mapping)


@dataclass(frozen=True)
class Accepted:
    """What the webhook endpoint needs of a body before it commits it: how many alerts it
    carries and what to answer with (the processor parses the stored body in full later)."""

    alerts: int
    response_extras: dict[str, str]


class Checker(Protocol):
    def __call__(
        self, body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
    ) -> Accepted: ...


def _counted(kind: SourceKind, check: Callable[[Any], int]) -> Checker:
    """The request-path checker of a fixed-format kind whose ``check`` counts its alerts."""

    def checker(
        body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
    ) -> Accepted:
        _no_mapping(kind, mapping)
        return Accepted(check(body), {})

    return checker


#: Kinds with a request-path check cheaper than their parser: the Alertmanager-shaped
#: senders of storms (building their alerts was a third of the webhook's time on the event
#: loop). The other kinds' bodies hold one alert each and are parsed in full.
CHECKERS: Mapping[SourceKind, Checker] = {
    "alertmanager": _counted("alertmanager", alertmanager.check),
    "grafana": _counted("grafana", grafana.check),
}


def accept_webhook(
    kind: SourceKind, body: Any, *, source_name: str, now: datetime, mapping: GenericMapping | None = None
) -> Accepted:
    """Check a decoded body on the request path: the InputError ``parse_webhook`` would raise,
    else the alert count and response fields it would give (tests hold the two to it)."""
    checker = CHECKERS.get(kind)
    if checker is not None:
        return checker(body, source_name=source_name, now=now, mapping=mapping)
    batch = parse_webhook(kind, body, source_name=source_name, now=now, mapping=mapping)
    return Accepted(len(batch.alerts), dict(batch.response_extras))


def mapping_from_data(data: Any, where: str) -> GenericMapping:
    try:
        return GenericMapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = format_loc([s for s in err["loc"] if isinstance(s, str | int)])
        raise ConfigError(
            f"{where}: {loc or 'mapping'}: {err['msg']}",
            hint="see the generic mapping reference in docs/alert-sources.md",
        ) from None


def load_mapping(path: Path) -> GenericMapping:
    """A mapping from a YAML file; ConfigError names the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return mapping_from_data(data, str(path))


def _builtin_dir() -> Any:
    return resources.files("integrations.sources").joinpath("mappings")


def builtin_mapping_names() -> list[str]:
    """Mappings shipped in integrations/sources/mappings/ (file names without .yaml)."""
    return sorted(
        entry.name.removesuffix(".yaml") for entry in _builtin_dir().iterdir() if entry.name.endswith(".yaml")
    )


def builtin_mapping(name: str) -> GenericMapping:
    if name not in builtin_mapping_names():
        raise ConfigError(
            f"no built-in mapping {name!r}", hint=f"built-in mappings: {', '.join(builtin_mapping_names())}"
        )
    text = _builtin_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return mapping_from_data(yaml.safe_load(text), f"built-in mapping {name}")


class SourceConfig(BaseModel):
    """One webhook source, e.g. under ``sources:`` in the bot's config::

    feature-store-monitor:
      kind: generic
      mapping: ml-monitor-contract        # built-in name, a .yaml path, or inline
      auth: {type: hmac, secret: {env: FEATURE_MONITOR_HMAC}}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SourceKind
    auth: WebhookAuthConfig
    mapping: GenericMapping | str | None = None

    @model_validator(mode="after")
    def _mapping_matches_kind(self) -> SourceConfig:
        if self.kind == "generic" and self.mapping is None:
            raise ValueError("a generic source needs a mapping")
        if self.kind != "generic" and self.mapping is not None:
            raise ValueError(f"a {self.kind} source takes no mapping")
        return self

    def resolved_mapping(self, base_dir: Path | None = None) -> GenericMapping | None:
        """The mapping object: inline, built-in by name, or loaded from a YAML path."""
        if self.mapping is None or isinstance(self.mapping, GenericMapping):
            return self.mapping
        if self.mapping.endswith((".yaml", ".yml")):
            path = Path(self.mapping)
            return load_mapping(path if path.is_absolute() or base_dir is None else base_dir / path)
        return builtin_mapping(self.mapping)
