"""The database stops answering mid-call: the caller hears an apology, nothing recorded is lost."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.app.adapters import adapters_for
from services.app.assembly import MOCK_AUTH_TOKEN, server_app
from services.app.config import load_config
from services.devtools.mock_completion import MockCompletionChecker
from services.storage.embedded_mongo import EmbeddedMongo
from services.telephony.mock import MockTelephony
from services.webhooks.signature import sign_twilio_request
from syncs.wording import SORRY

BASE = "http://outage.test"


@pytest.mark.slow
async def test_an_unreachable_database_gets_an_apology_in_time(tmp_path):
    mongo = EmbeddedMongo(tmp_path)
    mongo.start()
    environ = {
        "MONGODB_URI": mongo.uri,
        "DB_NAME": f"outage_{uuid.uuid4().hex[:8]}",
        "PUBLIC_BASE_URL": BASE,
        "ENCRYPTION_KEYS": "k1:" + "C" * 43 + "=",
    }
    config = load_config(environ, env_file=None)
    services = adapters_for(config, telephony=MockTelephony(), completion=MockCompletionChecker())
    app = server_app(config, services, webhook_timeout_s=2.0)
    try:
        async with app.router.lifespan_context(app):
            mongo.stop()
            params = {"CallSid": "CA" + "1" * 32, "SpeechResult": "I am grateful for my friends."}
            url = BASE + "/webhooks/twilio/gather"
            headers = {"X-Twilio-Signature": sign_twilio_request(MOCK_AUTH_TOKEN, url, params)}
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=BASE
            ) as http:
                r = await http.post("/webhooks/twilio/gather", data=params, headers=headers)
            # the apology is what the webhook's own deadline (2 s here, inside Twilio's 15 s)
            # answers with: it came from that path, not from a database that answered late
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
            assert SORRY in r.text and "<Hangup" in r.text
    finally:
        mongo.stop()
