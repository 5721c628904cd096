"""Any JSON sender → normalized alerts, through a per-source mapping of field paths.

For ML monitors (drift, data quality, freshness) and anything else that posts JSON: the mapping
(``GenericMapping``, YAML in config or one of ``integrations/sources/mappings/*.yaml``) says
where the alerts are and where each field is. Paths are those of ``paths.py``.

Fingerprint rule: a ``fingerprint`` path whose value is 16 hex digits is used as is; any other
value there is hashed (FNV-1a over ``{__source__, __key__}``). Without a fingerprint path it is
FNV-1a over the alert's labels plus ``__source__`` (the source name) — or over the labels alone
with ``fingerprint_includes_source: false``, which equals Alertmanager's fingerprint for the
same label set, so one alert sent through both dedupes.

Monitors that never send "resolved" set ``expires_in_s`` (per alert, by path) or
``default_expires_in_s``: an alert not sent again in time resolves itself.
"""

from __future__ import annotations

import math
import re
import string
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from integrations.sources._parsing import (
    http_link,
    input_error,
    join_path,
    normalize_severity,
    parse_time,
    shown,
    string_map,
    text_of,
    type_name,
    unique_links,
)
from integrations.sources.fingerprint import is_fingerprint, labelset_fingerprint
from integrations.sources.model import NormalizedAlert, ParsedBatch, Severity, Status
from integrations.sources.paths import MISSING, compile_path

KIND = "generic"


def _valid_path(text: str) -> str:
    compile_path(text)
    return text


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


PathText = Annotated[str, AfterValidator(_valid_path)]
#: One path or a list of paths.
PathList = Annotated[list[PathText], BeforeValidator(_as_list)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusSpec(_Spec):
    """Where the status is and how the sender's words map to firing/resolved."""

    path: PathText | None = None
    #: Sender value (case-insensitive) → "firing" | "resolved", e.g. {ok: resolved}.
    map: dict[str, Status] = Field(default_factory=dict)
    #: Used when the path is absent from the payload; without it that is an error.
    default: Status | None = "firing"

    @field_validator("map")
    @classmethod
    def _lower(cls, value: dict[str, Status]) -> dict[str, Status]:
        return {k.strip().lower(): v for k, v in value.items()}


class SeveritySpec(_Spec):
    """Where the severity is; sender words go through ``map``, then the built-in synonyms."""

    path: PathText | None = None
    map: dict[str, Severity] = Field(default_factory=dict)
    #: For a missing or unknown severity (the raw word is kept in ``raw_severity``).
    default: Severity = "warning"

    @field_validator("map")
    @classmethod
    def _lower(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        return {k.strip().lower(): v for k, v in value.items()}


class FieldsSpec(_Spec):
    """Labels or annotations: whole objects, single fields, and constants (later wins)."""

    #: Paths to JSON objects whose members are all copied (objects/lists as compact JSON).
    object: PathList = Field(default_factory=list)
    #: name → path of one value.
    fields: dict[str, PathText] = Field(default_factory=dict)
    #: name → constant text.
    static: dict[str, str] = Field(default_factory=dict)


class LinkSpec(_Spec):
    href: PathText
    text: str = "Link"


class IgnoreSpec(_Spec):
    """Payloads whose value at ``path`` is one of ``values`` carry no alert (e.g. a ping)."""

    path: PathText
    values: list[str]


class GenericMapping(_Spec):
    """How to read one JSON sender's webhook. See docs/alert-sources.md for a walk-through."""

    #: What sender and payload this mapping is for (documentation only).
    about: str = ""
    ignore_when: IgnoreSpec | None = None
    #: Path to a list of alerts; without it the whole payload is one alert.
    alerts: PathText | None = None
    fingerprint: PathText | None = None
    fingerprint_includes_source: bool = True
    status: StatusSpec = Field(default_factory=StatusSpec)
    severity: SeveritySpec = Field(default_factory=SeveritySpec)
    #: Paths tried in order; the first non-empty text is the title.
    title: PathList = Field(default_factory=list)
    #: Used when no title path gives text: ``$name`` / ``${name}`` read labels, annotations,
    #: ``source``, ``status``, ``severity`` and ``raw_severity`` (missing names become "").
    title_template: str | None = None
    description: PathList = Field(default_factory=list)
    labels: FieldsSpec = Field(default_factory=FieldsSpec)
    annotations: FieldsSpec = Field(default_factory=FieldsSpec)
    starts_at: PathText | None = None
    ends_at: PathText | None = None
    expires_in_s: PathText | None = None
    default_expires_in_s: int | None = Field(default=None, ge=0)
    group_key: PathText | None = None
    links: list[LinkSpec] = Field(default_factory=list)

    @field_validator("title_template")
    @classmethod
    def _template_is_valid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                string.Template(value).substitute(defaultdict(str))
            except ValueError as exc:
                raise ValueError(f"not a $name template: {exc}") from None
        return value


class _Reader:
    """Resolves paths of one alert: relative to the alert, ``$`` to the payload root."""

    def __init__(self, root: Any, current: Any, base: str) -> None:
        self.root, self.current, self.base = root, current, base

    def get(self, path: str) -> Any:
        return compile_path(path).resolve(self.root, self.current)

    def where(self, path: str) -> str:
        compiled = compile_path(path)
        if compiled.from_root:
            return compiled.text.lstrip("$").lstrip(".") or "body"
        location = self.base
        for step in compiled.steps:
            location = join_path(location, step)
        return location or "body"

    def text(self, path: str) -> str | None:
        value = self.get(path)
        return None if value is MISSING else text_of(value, self.where(path))

    def first_text(self, paths: list[str]) -> str | None:
        for path in paths:
            text = self.text(path)
            if text and text.strip():
                return text.strip()
        return None

    def fields(self, spec: FieldsSpec) -> dict[str, str]:
        out: dict[str, str] = {}
        for path in spec.object:
            value = self.get(path)
            if value is MISSING or value is None:
                continue
            if not isinstance(value, dict):
                raise input_error(self.where(path), f"expected an object, got {type_name(value)}")
            out.update(string_map(value, self.where(path)))
        for name, path in spec.fields.items():
            text = self.text(path)
            if text is not None:
                out[name] = text
        out.update(spec.static)
        return out


def _status(mapping: GenericMapping, reader: _Reader) -> Status:
    spec = mapping.status
    value = reader.get(spec.path) if spec.path else MISSING
    if value is MISSING or value is None:
        if spec.default is None:
            raise input_error(reader.where(spec.path or "status"), "field required")
        return spec.default
    word = (text_of(value, reader.where(spec.path or "")) or "").strip().lower()
    if word in spec.map:
        return spec.map[word]
    if word in ("firing", "resolved"):
        return "resolved" if word == "resolved" else "firing"
    accepted = sorted({*spec.map, "firing", "resolved"})
    raise input_error(
        reader.where(spec.path or ""),
        f"unknown status {shown(value)}",
        hint=f"accepted values: {', '.join(accepted)}; extend status.map",
    )


def _severity(mapping: GenericMapping, reader: _Reader) -> tuple[Severity, str | None]:
    spec = mapping.severity
    raw = reader.text(spec.path) if spec.path else None
    if raw is None:
        return spec.default, None
    word = raw.strip().lower()
    if word in spec.map:
        return spec.map[word], raw
    return normalize_severity(word, default=spec.default), raw


def _expires(mapping: GenericMapping, reader: _Reader) -> int | None:
    value = reader.get(mapping.expires_in_s) if mapping.expires_in_s else MISSING
    if value is MISSING or value is None:
        return mapping.default_expires_in_s
    where = reader.where(mapping.expires_in_s or "")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise input_error(where, f"expected a whole number of seconds >= 0, got {shown(value)}")
    return value


def _fingerprint(
    mapping: GenericMapping, reader: _Reader, labels: Mapping[str, str], source_name: str
) -> str:
    source = {"__source__": source_name} if mapping.fingerprint_includes_source else {}
    if mapping.fingerprint:
        key = reader.text(mapping.fingerprint)
        if key:
            if is_fingerprint(key.strip().lower()):
                return key.strip().lower()
            return labelset_fingerprint({**source, "__key__": key})
    return labelset_fingerprint({**labels, **source})


def _title(mapping: GenericMapping, reader: _Reader, variables: dict[str, str]) -> str:
    title = reader.first_text(mapping.title)
    if title:
        return title
    if mapping.title_template is not None:
        rendered = string.Template(mapping.title_template).substitute(defaultdict(str, variables)).strip()
        if rendered:
            return rendered
    return variables.get("alertname") or f"{variables['source']} alert"


def _alert(mapping: GenericMapping, reader: _Reader, source_name: str) -> NormalizedAlert:
    labels = reader.fields(mapping.labels)
    annotations = reader.fields(mapping.annotations)
    status = _status(mapping, reader)
    severity, raw_severity = _severity(mapping, reader)
    fingerprint = _fingerprint(mapping, reader, labels, source_name)
    variables = {
        **annotations,
        **labels,
        "source": source_name,
        "status": status,
        "severity": severity,
        "raw_severity": raw_severity or "",
    }
    return NormalizedAlert(
        source=source_name,
        fingerprint=fingerprint,
        status=status,
        severity=severity,
        raw_severity=raw_severity,
        title=_title(mapping, reader, variables),
        description=reader.first_text(mapping.description),
        labels=labels,
        annotations=annotations,
        starts_at=_time(reader, mapping.starts_at),
        ends_at=_time(reader, mapping.ends_at),
        links=unique_links([http_link(reader.get(link.href), link.text) for link in mapping.links]),
        group_key=reader.text(mapping.group_key) if mapping.group_key else None,
        expires_in_s=_expires(mapping, reader),
        raw=reader.current,
    )


def _time(reader: _Reader, path: str | None) -> datetime | None:
    if path is None:
        return None
    value = reader.get(path)
    return None if value is MISSING else parse_time(value, reader.where(path))


def _ignored(mapping: GenericMapping, body: Any) -> bool:
    spec = mapping.ignore_when
    if spec is None:
        return False
    value = compile_path(spec.path).resolve(body, body)
    if value is MISSING or isinstance(value, dict | list):
        return False
    text = text_of(value, spec.path) or ""
    return text.strip().lower() in {v.strip().lower() for v in spec.values}


def parse(body: Any, *, source_name: str, now: datetime, mapping: GenericMapping) -> ParsedBatch:
    """Parse any JSON body with ``mapping``."""
    del now  # expiry is counted by the core from when it receives the alert
    if _ignored(mapping, body):
        return ParsedBatch(kind=KIND, source=source_name)
    if mapping.alerts is None:
        items, base = [body], ""
    else:
        items = compile_path(mapping.alerts).resolve(body, body)
        base = _Reader(body, body, "").where(mapping.alerts)
        if items is MISSING:
            raise input_error(base, "field required", hint="the mapping's `alerts` path")
        if not isinstance(items, list):
            raise input_error(base, f"expected an array of alerts, got {type_name(items)}")
    alerts = []
    for i, item in enumerate(items):
        where = f"{base}[{i}]" if mapping.alerts is not None else ""
        if not isinstance(item, dict):
            raise input_error(where, f"expected an alert object, got {type_name(item)}")
        alerts.append(_alert(mapping, _Reader(body, item, where), source_name))
    return ParsedBatch(kind=KIND, source=source_name, alerts=alerts)
