"""Pages for people: `GET /` and the API docs, with every asset served by the bot itself."""

from __future__ import annotations

import re

import httpx


async def test_home_page_points_at_the_docs_and_the_cli(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for link in ('href="/docs"', 'href="/redoc"', 'href="/openapi.json"', 'href="/healthz"'):
        assert link in response.text
    assert "incident-bot token create me --scope admin" in response.text
    assert "incident-bot incident list" in response.text


async def test_docs_reference_only_the_bots_own_assets(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert urls, html
        for url in urls:
            assert url.startswith("/"), (page, url)  # no CDN, no web fonts
            if url != "/openapi.json":
                asset = await client.get(url)
                assert asset.status_code == 200 and len(asset.content) > 1000, url
        assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
    assert "/docs" not in (await client.get("/openapi.json")).json()["paths"]
