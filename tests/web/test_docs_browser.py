"""/docs and /redoc render in a real browser with the network off (only the bot's own origin
answers): headless Chromium from Debian, driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright

from tests.system.servers import free_port, wait_http

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("docs-browser")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_BOT_", "SLACK_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=folder,
        env={**env, "PYTHONPATH": str(ROOT), "INCIDENT_BOT_LOG_LEVEL": "WARNING"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", 60, proc)  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def render(origin: str, path: str, selector: str, tmp_path: Path) -> tuple[list[str], list[str]]:
    """Load ``path``, wait for ``selector``; the texts of the matches and every request that was
    refused for leaving the bot's origin."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    refused: list[str] = []

    def offline(route: Route) -> None:
        url = route.request.url
        if url.startswith(origin + "/"):
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", offline)
            page.goto(origin + path)
            page.wait_for_selector(selector, timeout=60_000)
            texts = page.locator(selector).all_inner_texts()
            page.screenshot(path=str(tmp_path / f"{path.strip('/')}.png"), full_page=False)
        finally:
            browser.close()
    return texts, refused


def test_swagger_ui_renders_operations_offline(origin: str, tmp_path: Path) -> None:
    paths, refused = render(origin, "/docs", ".opblock-summary-path", tmp_path)
    assert refused == []
    assert "/api/v1/incidents" in paths and "/api/v1/incidents/{ref}/acknowledge" in paths


def test_redoc_renders_operations_offline(origin: str, tmp_path: Path) -> None:
    items, refused = render(origin, "/redoc", "li[data-item-id^='tag/'] label", tmp_path)
    assert refused == []
    assert any("Acknowledge (first response)" in text for text in items), items
