"""Pages for people: ``GET /`` (where to go next) and the API docs, served from the bot itself.

Swagger UI (``/docs``) and ReDoc (``/redoc``) load their scripts and styles from
``/static/docs/``, which serves the assets shipped in the ``fastapi-offline`` package (MIT;
Swagger UI is Apache-2.0, ReDoc MIT): the docs work on a network without internet access.
The pages reference no other origin (no CDN, no web fonts, no Swagger validator badge), and a
Content-Security-Policy keeps the browser from contacting one anyway (ReDoc's footer would
fetch its vendor's logo).
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from bot import __version__

STATIC_URL = "/static/docs"
#: Only the bot itself; inline scripts and styles are how both UIs start; ReDoc's search runs
#: in a worker made from a blob.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

_HOME = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>incident-bot</title>
<link rel="icon" href="{static}/favicon.png">
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem;
         line-height: 1.5; color: #1b1f24; }}
  code, pre {{ font-family: ui-monospace, monospace; background: #f3f4f6; border-radius: 4px; }}
  code {{ padding: 0 .25rem; }}
  pre {{ padding: .75rem 1rem; overflow-x: auto; }}
  a {{ color: #0a58ca; }}
</style>
</head>
<body>
<h1>incident-bot <small>{version}</small></h1>
<p>Incident response and runbook automation for machine-learning systems.
This server has no web console yet: use the API or the command line.</p>
<h2>API</h2>
<ul>
  <li><a href="{docs}">Interactive API docs (Swagger UI)</a> and <a href="{redoc}">reference (ReDoc)</a></li>
  <li><a href="/openapi.json">OpenAPI document</a></li>
  <li>Every <code>/api/v1</code> call needs <code>Authorization: Bearer &lt;token&gt;</code></li>
  <li>Health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>,
      metrics: <a href="/metrics">/metrics</a></li>
</ul>
<h2>Command line</h2>
<p>In a terminal where incident-bot is installed, in the folder the bot runs in (or with the same
<code>--config</code>):</p>
<pre>incident-bot token create me --scope admin   # an API token, shown once
incident-bot incident list
incident-bot --help</pre>
</body>
</html>
"""


def install_pages(app: FastAPI) -> None:
    """``GET /``, ``/docs``, ``/redoc`` and their assets (the app is built with its own docs off)."""
    app.mount(STATIC_URL, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"
    home = _HOME.format(
        version=escape(__version__), docs=DOCS_URL, redoc=REDOC_URL, static=STATIC_URL
    ).encode()

    def own_origin_only(response: HTMLResponse) -> HTMLResponse:
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    # The validator badge would send the spec's URL to validator.swagger.io.
    swagger_parameters = {
        **swagger_ui_default_parameters,
        "validatorUrl": None,
        **(app.swagger_ui_parameters or {}),
    }

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return own_origin_only(HTMLResponse(home))

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return own_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{STATIC_URL}/favicon.png",
                oauth2_redirect_url=oauth2_redirect_url,
                swagger_ui_parameters=swagger_parameters,
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return own_origin_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} API reference",
                redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
