"""Settings: env + YAML precedence; invalid config names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_RUNBOOKS_DIR, load_settings
from bot.errors import ConfigError, InvalidConfigError


def test_defaults_are_embedded_sqlite() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///incident-bot.db"
    assert s.runbooks_path == DEFAULT_RUNBOOKS_DIR
    assert s.runbooks_path.is_dir()


def test_yaml_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text("port: 9000\nlog_level: debug\napi:\n  max_page_size: 20\n")
    s = load_settings(cfg)
    assert (s.port, s.log_level, s.api.max_page_size, s.config_file) == (9000, "DEBUG", 20, cfg)
    monkeypatch.setenv("INCIDENT_BOT_PORT", "9100")
    monkeypatch.setenv("INCIDENT_BOT_API__MAX_PAGE_SIZE", "30")
    s = load_settings(cfg)
    assert (s.port, s.api.max_page_size) == (9100, 30)
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(cfg))
    assert load_settings().port == 9100


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "port: abc\n",
            "port: should be a valid integer, unable to parse string as an integer; write a whole",
        ),
        ("api:\n  max_page_size: 0\n", "api.max_page_size: should be greater than or equal to 1; see the"),
        ("colour: blue\n", "colour: unknown setting; remove it or check its spelling"),
        ("databse_url: sqlite:///x.db\n", "databse_url: unknown setting; did you mean database_url?"),
        ("api:\n  max_page_sise: 5\n", "api.max_page_sise: unknown setting; did you mean api.max_page_size?"),
        ("database_url: mysql://x\n", "database_url: must be a sqlite:/// or postgresql+psycopg:// URL"),
    ],
)
def test_invalid_config_names_file_field_and_fix(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    with pytest.raises(InvalidConfigError) as err:
        load_settings(cfg)
    lines = [p.line() for p in err.value.problems]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{cfg}: ")
    assert expected in lines[0]
    assert "Value error" not in lines[0] and "Input should" not in lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [("- a list\n", "must hold a mapping"), ("port: [unclosed\n", "is not valid YAML at line")],
)
def test_unreadable_config_file(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(cfg) in err.value.message and expected in err.value.message


def test_every_invalid_field_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "port: abc\n"
        "alerts:\n  sources:\n    alertmanager:\n"
        "      auth: {type: basic, username: am, password: hunter2}\n"
    )
    monkeypatch.setenv("INCIDENT_BOT_API__MAX_PAGE_SIZE", "0")
    with pytest.raises(InvalidConfigError) as err:
        load_settings(cfg)
    lines = {p.field: p.line() for p in err.value.problems}
    assert set(lines) == {"port", "api.max_page_size", "alerts.sources.alertmanager.auth.password"}
    # The value came from the environment: the line says which variable, not the file.
    assert lines["api.max_page_size"].startswith("environment variable INCIDENT_BOT_API__MAX_PAGE_SIZE: ")
    secret = lines["alerts.sources.alertmanager.auth.password"]
    assert "write {env: NAME}" in secret and "{file: PATH}" in secret
    assert "hunter2" not in secret  # never echo a secret


def test_relative_paths_in_the_file_are_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    cfg = folder / "bot.yaml"
    cfg.write_text("database_url: sqlite:///data/bot.db\nrunbooks_dir: my-runbooks\ntemplates_dir: /abs/t\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings(cfg)
    assert s.database_url == f"sqlite:///{folder}/data/bot.db"
    assert s.runbooks_path == folder / "my-runbooks"
    assert s.templates_path == Path("/abs/t")
    # From the environment, relative stays relative to the working directory.
    monkeypatch.setenv("INCIDENT_BOT_DATABASE_URL", "sqlite:///here.db")
    assert load_settings(cfg).database_url == "sqlite:///here.db"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
