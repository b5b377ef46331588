"""`services.app.webapp.webapp_routes()`: the single page, its assets and their caching, over plain HTTP."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.app.webapp import CLIENT_ROUTES, IMMUTABLE, WEBAPP_DIR, webapp_routes

BASE = "http://test.local"


def client_for(routes: list) -> httpx.AsyncClient:
    app = Starlette(routes=routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(webapp_routes()) as client:
        yield client


def versioned_refs(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html)


# -- the page --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*CLIENT_ROUTES, "/today?x=1"])
async def test_every_client_route_serves_the_page(http, path):
    r = await http.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<main id="main"' in r.text
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


async def test_head_of_the_page(http):
    r = await http.head("/today")
    assert r.status_code == 200
    assert r.content == b""


async def test_the_page_points_at_versioned_assets_that_exist(http):
    page = (await http.get("/")).text
    refs = versioned_refs(page)
    assert any(ref.endswith("/app.js") for ref in refs)
    assert any(ref.endswith("/style.css") for ref in refs)
    assert all(re.match(r"^/static/v[0-9a-f]{12}/", ref) for ref in refs), refs
    for ref in refs:
        r = await http.get(ref)
        assert r.status_code == 200, ref
        assert r.headers["cache-control"] == IMMUTABLE


async def test_the_page_revalidates_with_its_etag(http):
    first = await http.get("/")
    again = await http.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_no_inline_scripts_or_styles_and_no_third_party_assets():
    """The CSP allows only this origin's files; a CDN or an inline script would break the app."""
    for path in WEBAPP_DIR.rglob("*"):
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), (
            f"{path} refers to another origin"
        )
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{path} has an inline script"
            assert "style=" not in text and "<style" not in text, f"{path} has inline styles"


# -- assets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/pages/today.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/icon.svg", "image/svg+xml"),
    ],
)
async def test_assets_have_their_content_types(http, path, content_type):
    r = await http.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == content_type
    assert r.headers["x-content-type-options"] == "nosniff"
    # unversioned: cached but revalidated, so a change is picked up at once
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["etag"]
    assert (await http.get(path, headers={"If-None-Match": r.headers["etag"]})).status_code == 304


async def test_every_module_import_resolves(http):
    """Each relative import in each module names a file that is served as JavaScript."""
    for path in WEBAPP_DIR.rglob("*.js"):
        source = path.read_text()
        for target in re.findall(r"""(?:import|from)\s+["'](\.{1,2}/[^"']+)["']""", source):
            resolved = (path.parent / target).resolve().relative_to(WEBAPP_DIR)
            r = await http.get(f"/static/{resolved.as_posix()}")
            assert r.status_code == 200, f"{path.name} imports {target}"
            assert r.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/pages/missing.js",
        "/static/",
        "/static/pages",
        "/static/../services/app/webapp.py",
        "/static/%2e%2e/pyproject.toml",
        "/static/..%2fpyproject.toml",
        "/static/pages/..%2f..%2fpyproject.toml",
        "/static/.hidden.js",
        "/static/v000000000000/missing.js",
    ],
)
async def test_missing_or_outside_assets_are_404(http, path):
    r = await http.get(path)
    assert r.status_code == 404
    assert "import" not in r.text and "[project]" not in r.text


async def test_unknown_paths_are_not_the_page(http):
    for path in ["/nope", "/today/extra", "/index.html", "/app.js"]:
        assert (await http.get(path)).status_code == 404, path


async def test_only_get_and_head(http):
    assert (await http.post("/today")).status_code == 405
    assert (await http.post("/static/app.js")).status_code == 405


async def test_a_stale_version_is_still_served_but_not_cached_for_long(http):
    r = await http.get("/static/v0123456789ab/app.js")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"


async def test_the_version_changes_when_a_file_changes(tmp_path: Path):
    (tmp_path / "index.html").write_text('<script type="module" src="/static/app.js"></script>')
    (tmp_path / "app.js").write_text("console.log(1)")
    async with client_for(webapp_routes(tmp_path)) as client:
        before = versioned_refs((await client.get("/")).text)
        time.sleep(0.01)
        (tmp_path / "app.js").write_text("console.log(22)")
        after = versioned_refs((await client.get("/")).text)
        assert before != after
        assert (await client.get(after[0])).text == "console.log(22)"
        assert (await client.get(after[0])).headers["cache-control"] == IMMUTABLE
        assert (await client.get(before[0])).headers["cache-control"] == "no-cache"


async def test_a_missing_index_is_a_404(tmp_path: Path):
    async with client_for(webapp_routes(tmp_path)) as client:
        assert (await client.get("/")).status_code == 404


# -- next to the rest of the server ----------------------------------------------------------


async def test_routes_of_the_rest_of_the_server_win():
    """Listed after the API (as the server does), the web app shadows none of its paths."""

    async def api(_):
        return JSONResponse({"api": True})

    others = [
        Route("/api/{path:path}", api, methods=["POST"]),
        Route("/healthz", api, methods=["GET"]),
        Route("/simulator", api, methods=["GET"]),
    ]
    async with client_for([*others, *webapp_routes()]) as client:
        assert (await client.post("/api/Accounts/login")).json() == {"api": True}
        assert (await client.get("/healthz")).json() == {"api": True}
        assert (await client.get("/simulator")).json() == {"api": True}
        # a GET on an API path is the API's 405, never the page
        assert (await client.get("/api/Accounts/login")).status_code == 405


@pytest.fixture
async def full_app(mongo_uri) -> AsyncIterator[httpx.AsyncClient]:
    from services.app.assembly import server_app
    from services.app.config import load_config

    environ = {
        "MONGODB_URI": mongo_uri,
        "DB_NAME": f"webapp_{uuid.uuid4().hex[:12]}",
        "USE_MOCKS": "true",
        "PUBLIC_BASE_URL": BASE,
        "ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    }
    config = load_config(environ, env_file=None)
    app = server_app(config)
    if not any(getattr(r, "name", "").startswith("webapp:") for r in app.router.routes):
        app.router.routes.extend(webapp_routes())  # until server_app serves the web app itself
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client
        await app.state.concept_app.engine.db.client.drop_database(config.db_name)


async def test_in_the_assembled_server_nothing_is_shadowed(full_app):
    http = full_app
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).status_code in (200, 503)
    assert (await http.get("/openapi.json")).json()["openapi"].startswith("3.")
    assert "text/html" in (await http.get("/docs")).headers["content-type"]
    r = await http.post("/api/Accounts/login", json={"username": "nobody", "password": "x" * 12})
    assert r.status_code == 401
    assert r.json()["error"]
    # API paths answer as the API, not with the page
    for path in [
        "/api/Accounts/login",
        "/api/nope",
        "/webhooks/twilio/voice",
    ]:
        r = await http.get(path)
        assert r.status_code in (404, 405), path
        assert "<main" not in r.text, path
    assert (await http.post("/webhooks/twilio/voice")).status_code != 200
    simulator = await http.get("/simulator/api/status")  # mock mode: the simulator answers as JSON
    assert simulator.headers["content-type"].startswith("application/json")
    page = await http.get("/history")
    assert page.status_code == 200 and '<main id="main"' in page.text
    assert (await http.get("/static/app.js")).status_code == 200
    icon = await http.get("/favicon.ico")  # for pages that name no icon (/docs)
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content == (await http.get("/static/icon.svg")).content
