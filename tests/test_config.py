"""Settings: env + YAML precedence; invalid config names the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_RUNBOOKS_DIR, load_settings
from bot.errors import ConfigError


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
        ("port: abc\n", "port: Input should be a valid integer"),
        ("api:\n  max_page_size: 0\n", "api.max_page_size: Input should be greater than or equal to 1"),
        ("colour: blue\n", "colour: unknown setting"),
        ("database_url: mysql://x\n", "database_url: Value error, must be a sqlite:/// or postgresql"),
        ("- a list\n", "must hold a mapping"),
        ("port: [unclosed\n", "is not valid YAML"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(cfg) in err.value.message
    assert expected in err.value.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
