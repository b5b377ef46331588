"""Serving the web app (`webapp/`): the single page at `/` and its client routes, assets under `/static/`.

Plain files, no build step. `index.html` is served for every client-side route
with `Cache-Control: no-cache` (the browser revalidates it on every load). In
it, every `/static/...` reference is rewritten to `/static/v<hash>/...`, where
the hash covers every file of the app, so assets are cached for a year as
immutable: ES modules import each other relatively, so they inherit the
versioned prefix and a change to any file changes every URL. Unversioned
`/static/...` URLs (and versions that are no longer current) are served too,
with `no-cache`, so a page loaded just before a deploy still works.

Nothing here claims a path outside `/`, the client routes, `/static/` and
`/favicon.ico` (the app's icon, for pages without an icon link: `/docs`), so
`/api`, `/docs`, `/openapi.json`, `/healthz`, `/readyz`, `/webhooks` and
`/simulator` are never shadowed: unknown paths stay 404 for the API's handler.
`serve_browser_errors` makes that handler answer a browser (a GET that accepts
`text/html`) with a page saying so and linking home, while API clients keep JSON.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from pathlib import Path

import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["CLIENT_ROUTES", "WEBAPP_DIR", "serve_browser_errors", "webapp_routes"]

WEBAPP_DIR = Path(__file__).resolve().parents[2] / "webapp"

# Paths the single-page app handles itself; each gets index.html.
CLIENT_ROUTES = (
    *("/", "/login", "/signup", "/reset", "/welcome", "/today", "/history", "/account"),
    "/search",  # search over one's own reflections
    *("/calendar", "/week"),  # History by day
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}

FAVICON = "icon.svg"  # also served at /favicon.ico, where browsers look by default
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The page talks only to its own origin; a recording is fetched from the service's own
# route and played from a blob: URL.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = {**COMMON_HEADERS, "Content-Security-Policy": CSP, "Referrer-Policy": "same-origin"}

_VERSIONED = re.compile(r"^v([0-9a-f]{12})/(.+)$")
_STATIC_REF = re.compile(r"""(?P<attr>(?:src|href)=["'])/static/""")


@attrs.frozen
class _File:
    body: bytes
    etag: str
    stamp: tuple[int, int]


class _Assets:
    """Files of the app directory, read once and re-read when they change on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[Path, _File] = {}

    def path_for(self, relative: str) -> Path | None:
        """The file for a URL path inside the app directory, or None (missing, hidden, unknown type, outside)."""
        if not relative or "\\" in relative or "\x00" in relative:
            return None
        parts = relative.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.suffix.lower() not in CONTENT_TYPES:
            return None
        return path if path.is_file() else None

    def read(self, path: Path) -> _File:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = path.read_bytes()
        loaded = _File(body, f'"{hashlib.sha256(body).hexdigest()[:20]}"', stamp)
        self._files[path] = loaded
        return loaded

    def version(self) -> str:
        """12 hex digits that change whenever any file of the app changes."""
        digest = hashlib.sha256()
        for path in sorted(self._all_files()):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(self.root)}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode()
            )
        return digest.hexdigest()[:12]

    def _all_files(self) -> Iterable[Path]:
        for path in self.root.rglob("*"):
            relative = path.relative_to(self.root)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                yield path


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in wanted.split(","))


def _file_response(
    request: Request, file: _File, content_type: str, cache: str, headers: dict[str, str]
) -> Response:
    all_headers = {**headers, "Cache-Control": cache, "ETag": file.etag}
    if _not_modified(request, file.etag):
        return Response(status_code=304, headers=all_headers)
    return Response(file.body, media_type=content_type, headers=all_headers)


def _not_found() -> Response:
    return PlainTextResponse(
        "not found", status_code=404, headers={**COMMON_HEADERS, "Cache-Control": REVALIDATE}
    )


def webapp_routes(root: Path | str | None = None) -> list[Route]:
    """Routes serving the web app from ``root`` (default: the repository's ``webapp/``)."""
    assets = _Assets(Path(root) if root is not None else WEBAPP_DIR)

    async def index(request: Request) -> Response:
        path = assets.path_for("index.html")
        if path is None:
            return _not_found()
        version = assets.version()
        html = assets.read(path).body.decode("utf-8")
        html = _STATIC_REF.sub(lambda m: f"{m.group('attr')}/static/v{version}/", html)
        body = html.encode("utf-8")
        page = _File(body, f'"{hashlib.sha256(body).hexdigest()[:20]}"', (0, len(body)))
        return _file_response(request, page, CONTENT_TYPES[".html"], REVALIDATE, PAGE_HEADERS)

    async def static(request: Request) -> Response:
        relative: str = request.path_params["path"]
        cache = REVALIDATE
        versioned = _VERSIONED.match(relative)
        if versioned:
            relative = versioned.group(2)
            if versioned.group(1) == assets.version():
                cache = IMMUTABLE
        path = assets.path_for(relative)
        if path is None:
            return _not_found()
        return _file_response(
            request, assets.read(path), CONTENT_TYPES[path.suffix.lower()], cache, COMMON_HEADERS
        )

    async def favicon(request: Request) -> Response:
        # Pages without their own icon link (the API docs) get the app's icon, not a 404.
        path = assets.path_for(FAVICON)
        if path is None:
            return _not_found()
        return _file_response(
            request, assets.read(path), CONTENT_TYPES[".svg"], REVALIDATE, COMMON_HEADERS
        )

    return [
        *(Route(route, index, methods=["GET"], name=f"webapp:{route}") for route in CLIENT_ROUTES),
        Route("/static/{path:path}", static, methods=["GET"], name="webapp:static"),
        Route("/favicon.ico", favicon, methods=["GET"], name="webapp:favicon"),
    ]


def _wants_html(request: Request) -> bool:
    """A browser navigating (GET, Accept naming text/html), not a script: fetch sends */*."""
    accept = request.headers.get("accept", "")
    return request.method in ("GET", "HEAD") and "text/html" in accept.lower()


_ERROR_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>{title} · Daily Reflection</title>
  <link rel="icon" href="/static/icon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body>
  <header class="site-header">
    <div class="wrap header-inner">
      <a class="brand" href="/"><img src="/static/icon.svg" alt="" width="28" height="28">
        <span>Daily Reflection</span></a>
    </div>
  </header>
  <main id="main" class="wrap error-page">
    <h1>{title}</h1>
    <p class="lead">{text}</p>
    <p><a class="btn btn-primary" href="/">Go to the start page</a></p>
    {extra}
  </main>
</body>
</html>
"""


def _error_page(request: Request, status: int) -> Response:
    path = html.escape(request.url.path)
    if request.url.path.startswith("/api/"):
        title = "This address is for programs"
        text = (
            f"<code>{path}</code> is part of the service's API: apps call it with a POST "
            "request, so there is nothing to read here in a browser."
        )
        extra = '<p>Writing a program? See the <a href="/docs">API reference</a>.</p>'
    else:
        title = "Page not found"
        text = (
            f"There is no page at <code>{path}</code>. The address may be mistyped, "
            "or the page may have moved."
        )
        extra = ""
    body = _ERROR_PAGE.format(title=title, text=text, extra=extra)
    return HTMLResponse(
        body, status_code=status, headers={**PAGE_HEADERS, "Cache-Control": REVALIDATE}
    )


def serve_browser_errors(app: Starlette) -> None:
    """Answer a browser's 404 (a mistyped address) or 405 (an API route opened as a page)
    with a page linking home; every other caller still gets the API's JSON error."""
    fallback = app.exception_handlers[HTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405) and _wants_html(request):
            return _error_page(request, exc.status_code)
        response = fallback(request, exc)
        return await response if not isinstance(response, Response) else response

    app.add_exception_handler(HTTPException, handler)
