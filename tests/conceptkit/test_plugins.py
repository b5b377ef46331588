"""Plugins: an installed package is discovered; clashes fail at startup naming both sources."""

from __future__ import annotations

import httpx
import pytest

from conceptkit import (
    Concept,
    ConceptApp,
    RegistryError,
    action,
    hookimpl,
    load_registry,
    plugin_manager,
)
from tests.conceptkit.conftest import ALICE
from tests.conceptkit.sample import SamplePlugin


def test_the_installed_example_package_is_discovered_through_its_entry_point():
    registry = load_registry(plugin_manager())
    assert {"Notes", "NoteCounter", "Requesting"} <= set(registry.concepts)
    assert registry.concept_sources["Notes"].startswith("notes (package conceptkit-notes")
    assert registry.concept_sources["Requesting"] == "conceptkit.builtins"
    assert "CountNotes" in {s.name for s in registry.syncs}


def test_an_allowlist_loads_only_the_plugins_it_names():
    only_notes = load_registry(plugin_manager(allow={"notes"}, extra=[SamplePlugin()]))
    assert "Notes" in only_notes.concepts and "Profile" not in only_notes.concepts
    none = load_registry(plugin_manager(allow=(), extra=[SamplePlugin()]))
    assert "Notes" not in none.concepts and "Ledger" in none.concepts  # extra still counts


def test_an_allowed_plugin_that_is_not_installed_stops_startup_naming_the_installed():
    with pytest.raises(LookupError, match=r"not-here.*installed conceptkit plugins: notes"):
        plugin_manager(allow={"not-here"})


async def test_the_plugins_routes_appear_and_its_sync_fires(async_db):
    pm = plugin_manager(
        extra=[SamplePlugin()], block=["reflection"]
    )  # installed plugins + the sample's authenticator
    app = ConceptApp(pm, async_db, services={})
    asgi = app.asgi()
    async with asgi.router.lifespan_context(asgi):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi), base_url="http://t"
        ) as c:
            r = await c.post("/api/Notes/post", json={"text": "hello"}, headers=ALICE)
            assert r.status_code == 200, r.text
            r = await c.post("/api/Notes/_mine", json={}, headers=ALICE)
            assert [n["text"] for n in r.json()] == ["hello"]
            assert "/api/Notes/post" in (await c.get("/openapi.json")).json()["paths"]
        assert await app.engine.query("NoteCounter", "_total", {"owner": "alice"}) == [{"n": 1}]


def test_two_concepts_with_one_name_fail_naming_both_sources():
    class Ledger(Concept):
        @action
        async def open(self, owner: str) -> dict:
            return {}

    class Impostor:
        @hookimpl
        def conceptkit_concepts(self):
            return [Ledger]

    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin(), Impostor()])
    with pytest.raises(RegistryError) as err:
        load_registry(pm)
    assert (
        "'Ledger'" in str(err.value)
        and "SamplePlugin" in str(err.value)
        and "Impostor" in str(err.value)
    )


def test_two_declarations_of_one_route_fail_naming_both_sources():
    from conceptkit import public

    class Again:
        @hookimpl
        def conceptkit_exposures(self):
            from conceptkit import concepts

            (S,) = concepts("Sessions")
            return [public(S.login)]

    pm = plugin_manager(load_entry_points=False, extra=[SamplePlugin(), Again()])
    with pytest.raises(RegistryError, match=r"/api/Sessions/login.*SamplePlugin.*Again"):
        load_registry(pm)


def test_a_missing_service_adapter_is_named():
    class NeedsPhone(Concept):
        uses = ("telephony",)

    with pytest.raises(LookupError, match="telephony"):
        NeedsPhone(None, {})
