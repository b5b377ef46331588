"""A live server with the web app, and headless Chromium driven by Playwright.

The server is the whole app in-process (real concepts, syncs, routes and
database; mock phone) served by uvicorn in a thread on a free port, once per
test module. Tests keep a reference to its `MockTelephony` to read the SMS
codes it "sends". Each test gets a fresh browser context (own localStorage),
so users never leak between tests; every test signs up its own users.

Playwright's own browser download cannot work here: tests drive Debian's
Chromium (`make browser-deps` installs it) and are skipped when it is missing.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from services.app.adapters import adapters_for
from services.app.assembly import server_app
from services.app.config import load_config
from services.app.webapp import webapp_routes
from services.devtools.mock_completion import MockCompletionChecker
from services.storage.database import make_client
from services.storage.embedded_mongo import free_port
from services.telephony.mock import MockTelephony
from tests.passwords import hash_cheaply

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
BROWSER_TZ = "America/New_York"
DESKTOP = {"width": 1100, "height": 860}
PHONE = {"width": 375, "height": 812}


@attrs.define
class LiveServer:
    url: str
    telephony: MockTelephony
    http: httpx.Client

    def api(
        self,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        expect: int | None = 200,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(f"/api/{path}", json=body or {}, headers=headers)
        if expect is not None:
            assert response.status_code == expect, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def sign_up(self, *, profile: bool = True, timezone: str = "Europe/London") -> tuple[str, dict]:
        """A new user through the API; returns (username, login answer)."""
        username = f"u{uuid.uuid4().hex[:10]}"
        self.api("Accounts/register", {"username": username, "password": PASSWORD})
        login = self.api("Accounts/login", {"username": username, "password": PASSWORD})
        if profile:
            body = {"displayName": "Grace", "phoneNumber": "+14155550100", "timezone": timezone}
            self.api("Profile/createProfile", body, login["token"])
        return username, login

    def sms_code(self, to: str, containing: str = "") -> str:
        """The code of the newest text sent to `to` (with `containing` in it, if given).

        Waits for it: the text goes out as the request's flow goes on, which may be just
        after the page has said it was sent.
        """
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for sms in reversed(self.telephony.messages):
                if sms.to != to or containing not in sms.body:
                    continue
                if match := re.search(r"\b(\d{6})\b", sms.body):
                    return match.group(1)
            time.sleep(0.05)
        raise AssertionError(f"no code was texted to {to}: {self.telephony.messages!r}")


def _mock_status_routes() -> list[Any]:
    """Stand-in for the phone simulator's status probe (the simulator serves it in mock mode)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def status(_: Request) -> JSONResponse:
        return JSONResponse({"mock": True})

    return [Route("/simulator/api/status", status, methods=["GET"])]


def with_webapp(app: Any) -> Any:
    """The web app's routes, unless the server already serves them (once wired into server_app)."""
    if not any(getattr(route, "name", "").startswith("webapp:") for route in app.router.routes):
        app.router.routes.extend(webapp_routes())
    return app


@pytest.fixture(scope="module")
def live_server(mongo_uri: str) -> Iterator[LiveServer]:
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db_name = f"browser_{uuid.uuid4().hex[:12]}"
    environ = {
        "MONGODB_URI": mongo_uri,
        "DB_NAME": db_name,
        "USE_MOCKS": "true",
        "PUBLIC_BASE_URL": base,
        "ENCRYPTION_KEYS": "k1:" + "B" * 43 + "=",
        "RETRY_DELAY_SECONDS": "0",
    }
    config = load_config(environ, env_file=None)
    telephony = MockTelephony(seed=11)
    services = adapters_for(config, telephony=telephony, completion=MockCompletionChecker())
    app = server_app(config, services, extra_routes=_mock_status_routes())
    with_webapp(app)
    hash_cheaply(app.state.concept_app.engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="browser-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=base, timeout=20) as http:
            yield LiveServer(base, telephony, http)
    finally:
        server.should_exit = True
        thread.join(15)
        client = make_client(mongo_uri)
        try:
            client.drop_database(db_name)
        finally:
            client.close()


EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session", autouse=True)
def patient_expectations() -> None:
    """Playwright's ``expect`` waits 5 s by default; a page that follows the server's
    flows (a call finishing, a text going out) can take longer on a busy machine. The
    wait ends as soon as the page shows what is expected, so only a failure waits it out."""
    for name in ("playwright.sync_api", "playwright.async_api"):
        try:
            module = __import__(name, fromlist=["expect"])
        except ImportError:
            continue
        module.expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def sync_playwright_api() -> Any:
    """Playwright's sync API, or a skip saying what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (run `make browser-deps`)")
    return pytest.importorskip(
        "playwright.sync_api", reason="browser tests need playwright (pip install playwright)"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: while the sync API is open its event loop counts as
    # running in this thread, so async tests in later modules could not start theirs.
    sync_api = sync_playwright_api()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """`new_page(viewport=...)` opens a page in a fresh context (own storage) on the live server."""
    contexts = []

    def open_page(viewport: dict | None = None, timezone_id: str = BROWSER_TZ) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or DESKTOP,
            locale="en-GB",
            timezone_id=timezone_id,
            color_scheme="light",
        )
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # checked by tests that care
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in_with_token(page: Any, login: dict, path: str = "/today") -> None:
    """Start a page already logged in (the token stored as the app stores it)."""
    page.goto("/login")
    page.evaluate(
        "session => localStorage.setItem('reflection.session', JSON.stringify(session))",
        {"token": login["token"], "expiresAt": login["expiresAt"], "user": login["user"]},
    )
    page.goto(path)
