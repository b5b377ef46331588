"""The app measured by bench/engine.py: one raw route and two generated ones."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conceptkit import (
    Concept,
    ConceptApp,
    Sync,
    action,
    concepts,
    hookimpl,
    new_id,
    plugin_manager,
    public,
    vars,
)
from services.storage.database import make_async_client


class Bench(Concept):
    @action
    async def put(self, value: int) -> dict[str, Any]:
        item = self.new_id()
        await self.collection("items").insert_one({"_id": item, "value": value})
        return {"item": item}

    @action
    async def putSynced(self, value: int) -> dict[str, Any]:
        item = self.new_id()
        await self.collection("items").insert_one({"_id": item, "value": value})
        return {"item": item}

    @action
    async def touch(self, item: str) -> dict[str, Any]:
        await self.collection("touched").insert_one({"_id": new_id(), "item": item})
        return {}

    @action
    async def noop(self, value: int) -> dict[str, Any]:
        return {"value": value}


(B,) = concepts("Bench")
(item,) = vars("item")


class BenchPlugin:
    @hookimpl
    def conceptkit_concepts(self):
        return [Bench]

    @hookimpl
    def conceptkit_syncs(self):
        return [
            Sync(
                "TouchAfterPut",
                when=[B.putSynced({}, {"item": item})],
                then=[B.touch({"item": item})],
            )
        ]

    @hookimpl
    def conceptkit_exposures(self):
        return [public(B.put), public(B.putSynced)]


db = make_async_client(os.environ["MONGODB_URI"])[os.environ.get("DB_NAME", "bench")]
concept_app = ConceptApp(
    plugin_manager(load_entry_points=False, extra=[BenchPlugin()]), db, services={}
)
raw_items = db["Raw_items"]


async def raw(request: Request) -> JSONResponse:
    body = await request.json()
    item = new_id()
    await raw_items.insert_one({"_id": item, "value": body["value"]})
    return JSONResponse({"item": item})


app = concept_app.asgi([Route("/raw", raw, methods=["POST"])])
