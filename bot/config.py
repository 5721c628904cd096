"""Settings: built once at start-up from environment variables and an optional YAML file.

Precedence: explicit arguments > environment (``INCIDENT_BOT_*``, nested with ``__``) > YAML
file (``--config PATH`` or ``INCIDENT_BOT_CONFIG``) > defaults. Nothing reads the environment
at import time; ``load_settings`` is called by the CLI and passed to ``create_app``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.alert.settings import AlertSettings
from bot.authz.people import Person, check_people
from bot.chat.settings import SlackSettings
from bot.errors import ConfigError
from bot.permissions import PermissionSettings
from bot.runbook.settings import RunbookSettings
from integrations.settings import IntegrationsSettings

PACKAGE_DIR = Path(__file__).resolve().parent


def _content_dir(name: str) -> Path:
    """Shipped content: inside the installed package, or the repo's top-level folder."""
    installed = PACKAGE_DIR / "defaults" / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


DEFAULT_RUNBOOKS_DIR = _content_dir("runbooks")
DEFAULT_TEMPLATES_DIR = _content_dir("templates")


class ApiSettings(BaseModel):
    """HTTP API behaviour."""

    model_config = ConfigDict(extra="forbid")

    max_page_size: int = Field(200, ge=1, le=10_000)


class Settings(BaseSettings):
    """Everything the bot needs to start. Sections are documented in docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="INCIDENT_BOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    #: Where the YAML came from (set by load_settings; used in messages only).
    config_file: Path | None = None
    database_url: str = "sqlite:///incident-bot.db"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: Public base URL of the bot (links in chat and postmortems).
    public_url: str = "http://127.0.0.1:8080"
    auto_migrate: bool = True
    log_level: str = "INFO"
    #: Folders of user-owned content; None means the defaults shipped with the package.
    runbooks_dir: Path | None = None
    templates_dir: Path | None = None
    api: ApiSettings = ApiSettings()
    permissions: PermissionSettings = PermissionSettings()
    #: People, configured once (docs/permissions.md), and groups of them for permissions.
    people: list[Person] = Field(default_factory=list)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    integrations: IntegrationsSettings = IntegrationsSettings()
    slack: SlackSettings = Field(default_factory=SlackSettings)
    runbooks: RunbookSettings = RunbookSettings()
    alerts: AlertSettings = AlertSettings()

    _yaml_file: ClassVar[Path | None] = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @model_validator(mode="after")
    def _people(self) -> Settings:
        check_people(self.people, self.groups)
        return self

    @property
    def runbooks_path(self) -> Path:
        return self.runbooks_dir or DEFAULT_RUNBOOKS_DIR

    @property
    def templates_path(self) -> Path:
        return self.templates_dir or DEFAULT_TEMPLATES_DIR

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=cls._yaml_file))
        return tuple(sources)


def _describe_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"  {field}: {message}")
    return "\n".join(lines)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from env + YAML; raise ConfigError naming the file and each bad field."""
    path_text = config_file or os.environ.get("INCIDENT_BOT_CONFIG")
    path = Path(path_text) if path_text else None
    where = f"config file {path}" if path else "configuration"
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", hint="check --config")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of settings at top level")

    class _Loaded(Settings):
        _yaml_file = path

    try:
        return _Loaded(config_file=path, **overrides)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid {where} (environment variables INCIDENT_BOT_* also apply):\n" + _describe_errors(exc)
        ) from None
