"""How action records become log documents and back: secrets dropped, private values sealed.

The pure half of the action log (``ActionLog`` adds the database): a record's
document, the intent written before an action's first write, a sync firing's
document, and reading them back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .records import ActionRecord, dumps, next_seq

FIRING_PREFIX = "firing:"  # firings live beside the records, so one write commits both
SECRET = "[secret]"
PRIVATE = "[private]"


class Sealer(Protocol):
    """Encrypts private values before they are written to the log (provided by the app)."""

    def seal(self, plaintext: str, *, context: str) -> str: ...

    def open(self, token: str, *, context: str) -> str: ...


class LogDocuments:
    """Builds and reads the log's documents (a base of ``ActionLog``)."""

    sealer: Sealer | None
    recovery_grace_s: float
    now: Callable[[], float]  # epoch seconds: when pending records become replayable

    def encode_values(
        self,
        values: Mapping[str, Any],
        secret: frozenset[str],
        private: frozenset[str],
        context: str,
    ) -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            if key in secret:
                out[key] = SECRET
            elif key in private and value is not None:
                out[key] = self.seal_value(value, f"{context}.{key}")
            else:
                out[key] = value
        return out

    def seal_value(self, value: Any, context: str) -> Any:
        if self.sealer is None:
            return PRIVATE
        return {"$sealed": self.sealer.seal(dumps(value), context=context)}

    def open_value(self, value: Any, context: str) -> Any:
        if isinstance(value, dict) and "$sealed" in value and self.sealer is not None:
            return json.loads(self.sealer.open(value["$sealed"], context=context))
        return value

    def decode_values(self, values: Mapping[str, Any], context: str) -> dict[str, Any]:
        return {k: self.open_value(v, f"{context}.{k}") for k, v in values.items()}

    def to_document(
        self, record: ActionRecord, secret: frozenset[str], private: frozenset[str], pending: bool
    ) -> dict[str, Any]:
        ctx = f"{record.concept}.{record.action}"
        return {
            "_id": record.id,
            "seq": record.seq,
            "flow": record.flow,
            "concept": record.concept,
            "action": record.action,
            "inputs": self.encode_values(record.inputs, secret, private, ctx + ".in"),
            "outputs": self.encode_values(record.outputs, secret, private, ctx + ".out"),
            "cause": record.cause,
            "sync": record.sync,
            "started": record.started,
            "finished": record.finished,
            "pending": pending,
            "retryAt": self.now() + self.recovery_grace_s if pending else None,
        }

    def intent_document(
        self,
        record_id: str,
        flow: str,
        concept: str,
        action: str,
        inputs: dict[str, Any],
        cause: list[str],
        started: dt.datetime,
        secret: frozenset[str],
        private: frozenset[str],
        targets: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The record of an action about to make its first write, before it makes it.

        Pending with no outputs, and naming the documents (``targets``: collection and
        ``_id``) its write will mark: if the process dies, recovery reads the mark there
        for the action's outcome (none: the write never happened), then runs the reactions
        it owed. The action is not run again.
        """
        ctx = f"{concept}.{action}"
        return {
            "_id": record_id,
            "seq": next_seq(),
            "flow": flow,
            "concept": concept,
            "action": action,
            "inputs": self.encode_values(inputs, secret, private, ctx + ".in"),
            "outputs": None,
            "cause": cause,
            "sync": None,
            "targets": targets,
            "started": started,
            "finished": started,  # for the retention index; replaced with the outcome
            "pending": True,
            "retryAt": self.now() + self.recovery_grace_s,
        }

    def from_document(self, doc: Mapping[str, Any]) -> ActionRecord:
        ctx = f"{doc['concept']}.{doc['action']}"
        outputs = doc.get("outputs")
        return ActionRecord(
            id=doc["_id"],
            seq=doc.get("seq", 0),
            flow=doc["flow"],
            concept=doc["concept"],
            action=doc["action"],
            inputs=self.decode_values(doc.get("inputs", {}), ctx + ".in"),
            outputs={} if outputs is None else self.decode_values(outputs, ctx + ".out"),
            cause=list(doc.get("cause") or []),
            sync=doc.get("sync"),
            started=doc.get("started"),
            finished=doc.get("finished"),
            intent=outputs is None,
            replays=int(doc.get("replays") or 0),
            targets=list(doc.get("targets") or []),
        )

    # -- firings ------------------------------------------------------------------

    def firing_document(
        self, key: str, sync: str, records: list[str], frames: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A sync firing and the frames its where-clauses produced (sealed).

        It has no ``flow`` and no ``pending``, so flow reads and recovery pass it by;
        ``finished`` lets the retention index expire it with the records.
        """
        return {
            "_id": FIRING_PREFIX + key,
            "firing": sync,
            "records": records,
            "frames": self.seal_value(frames, f"firing.{sync}") if self.sealer else None,
            "finished": dt.datetime.now(dt.UTC),
        }

    def firing_frames(self, doc: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        if doc.get("frames") is None:
            return None
        return self.open_value(doc["frames"], f"firing.{doc['firing']}")
