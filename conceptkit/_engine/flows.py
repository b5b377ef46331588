"""The records of recent flows, kept in memory for matching (an LRU cache).

A flow this process started is seen whole. One it joined midway (a replay, a later
root in a flow begun elsewhere) is marked ``partial`` until its earlier records are
read from the log.
"""

from __future__ import annotations

from collections import OrderedDict

from .._log.actionlog import ActionRecord


class FlowCache:
    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._flows: OrderedDict[str, list[ActionRecord]] = OrderedDict()
        self._partial: set[str] = set()

    def get(self, flow: str) -> list[ActionRecord] | None:
        return self._flows.get(flow)

    def complete(self, flow: str) -> bool:
        """Whether this process holds every record of the flow (no need to read the log)."""
        return flow in self._flows and flow not in self._partial

    def put(self, flow: str, records: list[ActionRecord]) -> list[ActionRecord]:
        """Hold ``records`` as the whole of the flow."""
        self._flows[flow] = records
        self._flows.move_to_end(flow)
        self._partial.discard(flow)
        while len(self._flows) > self.size:
            evicted, _ = self._flows.popitem(last=False)
            self._partial.discard(evicted)
        return records

    def remember(self, record: ActionRecord) -> None:
        """Add (or replace: an intent's outcome, a raised action's rerun) one record."""
        records = self._flows.get(record.flow)
        if records is None:
            records = self.put(record.flow, [])
            self._partial.add(record.flow)  # joined midway: earlier records are in the log
        else:
            self._flows.move_to_end(record.flow)
        for i, known in enumerate(records):
            if known.id == record.id:
                records[i] = record
                return
        records.append(record)
