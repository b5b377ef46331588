"""The service serves only its own plugin unless the operator names more (``PLUGINS``)."""

from __future__ import annotations

from tests.app.conftest import running_service


async def test_an_installed_example_plugin_is_not_served_unless_enabled(mongo_uri):
    async with running_service(mongo_uri) as svc:
        paths = (await svc.http.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith("/api/Notes/")]
        assert (await svc.http.post("/api/Notes/post", json={"text": "hi"})).status_code == 404
        assert "Notes_notes" not in await svc.engine.db.list_collection_names()


async def test_an_enabled_plugin_is_served_with_the_apps_own_sessions(mongo_uri):
    async with running_service(mongo_uri, settings={"PLUGINS": "notes"}) as svc:
        token = await svc.sign_up()
        r = await svc.http.post(
            "/api/Notes/post", json={"text": "hi"}, headers={"authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
