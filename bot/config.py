"""Settings: built once at start-up from environment variables and an optional YAML file.

Precedence: explicit arguments > environment (``INCIDENT_BOT_*``, nested with ``__``) > YAML
file (``--config PATH`` or ``INCIDENT_BOT_CONFIG``) > defaults. Nothing reads the environment
at import time; ``load_settings`` is called by the CLI and passed to ``create_app``.

Relative paths written in the YAML file (``runbooks_dir``, ``templates_dir``, a SQLite
``database_url``) are relative to the file's folder, so a config works from any working
directory; relative paths from the environment or the defaults are relative to the working
directory. Every invalid field is reported at once, each naming where it was set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

from bot.alert.settings import AlertSettings
from bot.authz.people import Person, check_people
from bot.chat.settings import SlackSettings
from bot.config_problems import describe_validation_error
from bot.errors import ConfigError, InvalidConfigError, Problem
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

    _yaml_data: ClassVar[dict[str, Any] | None] = None

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
        if cls._yaml_data is not None:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=cls._yaml_data))
        return tuple(sources)


#: Settings holding a path: relative values in the YAML file are relative to its folder.
_PATH_SETTINGS = ("runbooks_dir", "templates_dir")


def _relative_to(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with relative paths anchored at ``folder`` (the config file's folder)."""
    data = dict(data)
    for key in _PATH_SETTINGS:
        value = data.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            data[key] = str(folder / value)
    url = data.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite"):
        try:
            parsed = make_url(url)
        except Exception:  # an invalid URL is reported by validation, with its field
            return data
        database = parsed.database or ""
        relative = not Path(database).expanduser().is_absolute()
        if database and database != ":memory:" and not database.startswith("file:") and relative:
            data["database_url"] = parsed.set(database=str(folder / database)).render_as_string(
                hide_password=False
            )
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"config file {path.resolve()} {what}",
            hint="check --config or INCIDENT_BOT_CONFIG (a YAML file, e.g. examples/config.yaml)",
        )
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"config file {path} is not valid YAML{where}: {problem}", hint="fix the YAML syntax there"
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of settings at top level",
            hint="write `name: value` lines (see examples/config.yaml)",
        )
    return loaded


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from env + YAML. A ConfigError names the file; invalid fields are
    reported together as InvalidConfigError, each with where it was set, the field and the fix."""
    path_text = config_file or os.environ.get("INCIDENT_BOT_CONFIG")
    path = Path(path_text).expanduser() if path_text else None
    data = _relative_to(path.resolve().parent, _read_yaml(path)) if path is not None else None

    class _Loaded(Settings):
        _yaml_data = data

    try:
        return _Loaded(config_file=path, **overrides)
    except ValidationError as exc:
        problems: list[Problem] = describe_validation_error(exc, data or {}, path, Settings)
        raise InvalidConfigError(problems) from None
