"""Two tiny concepts, one sync, two routes: everything a plugin can contribute."""

from __future__ import annotations

from typing import Annotated, TypedDict

from conceptkit import Concept, Len, Sync, action, authenticated, concepts, hookimpl, query, vars


class Posted(TypedDict):
    note: str


class Notes(Concept):
    """Short notes a user keeps."""

    async def setup(self) -> None:
        await self.collection("notes").create_index("owner")

    @action
    async def post(self, user: str, text: Annotated[str, Len(1, 280)]) -> Posted:
        """Add a note."""
        note = self.new_id()
        await self.collection("notes").insert_one({"_id": note, "owner": user, "text": text})
        return {"note": note}

    @query
    async def _mine(self, user: str) -> list[dict]:
        """The caller's notes, oldest first."""
        docs = self.collection("notes").find({"owner": user}).sort("_id", 1)
        return [{"note": d["_id"], "text": d["text"]} async for d in docs]


class NoteCounter(Concept):
    """How many notes each user has posted."""

    @action
    async def count(self, owner: str) -> dict:
        await self.collection("counts").update_one({"_id": owner}, {"$inc": {"n": 1}}, upsert=True)
        return {}

    @query
    async def _total(self, owner: str) -> list[dict]:
        doc = await self.collection("counts").find_one({"_id": owner})
        return [{"n": doc["n"] if doc else 0}]


N, C = concepts("Notes NoteCounter")
user = vars("user")[0]

CountNotes = Sync(
    "CountNotes",
    when=[N.post({"user": user}, {})],
    then=[C.count({"owner": user})],
    doc="every posted note is counted",
)


@hookimpl
def conceptkit_concepts():
    return [Notes, NoteCounter]


@hookimpl
def conceptkit_syncs():
    return [CountNotes]


@hookimpl
def conceptkit_exposures():
    return [authenticated(N.post), authenticated(N._mine)]
