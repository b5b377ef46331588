"""The PhoneCall concept class: its indexes, and its actions and queries gathered by job."""

from __future__ import annotations

from pymongo import IndexModel

from conceptkit import Concept

from .conversation import Conversation
from .keypad import Keypad
from .lifecycle import Lifecycle
from .progress import CallProgress
from .queries import CallQueries


class PhoneCall(Lifecycle, Conversation, Keypad, CallProgress, CallQueries, Concept):
    """One phone conversation with a user, from dialling to hang-up, keyed by the provider's id."""

    uses = ("clock", "encryption")

    async def setup(self) -> None:
        calls = self.collection("calls")
        await calls.create_indexes(
            [
                IndexModel("callSid", unique=True, sparse=True),
                IndexModel("activeUser", unique=True, sparse=True),
                IndexModel("scheduledCall"),
                IndexModel("user"),
                # While a call is live: when it last changed and when it began, as epoch
                # floats (range scans on floats are fast on the embedded server), so the
                # reconciler finds the few idle ones without reading every live call.
                IndexModel("liveTs", sparse=True),
                IndexModel("liveSince", sparse=True),
            ]
        )
        async for doc in calls.find(
            {"activeUser": {"$exists": True}, "liveSince": {"$exists": False}}, {"createdAt": 1}
        ):  # calls live across the upgrade that added them
            ts = doc["createdAt"].timestamp()
            await calls.update_one({"_id": doc["_id"]}, {"$set": {"liveTs": ts, "liveSince": ts}})
