"""PhoneCall against a simple model: random sequences of every action, including
duplicated and out-of-order status callbacks (docs/concepts/PhoneCall.md).

Every action's success or failure must match the model exactly, so no illegal
transition is ever accepted; invariants: terminal states stay terminal, the
prompt index never passes the last prompt, at most one active call per user.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from concepts.phone_call import ACTIVE, TERMINAL, PhoneCall
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from tests.concepts.loop_harness import Harness

USERS = ("u1", "u2")
PROGRESS = ("ringing", "answered", "hung_up", "busy", "no_answer", "failed")
ENDED = {"busy": "BUSY", "no_answer": "NO_ANSWER", "failed": "FAILED"}


ENCRYPTOR = Encryptor([("test", os.urandom(32))])


class Model:
    def __init__(self, user: str) -> None:
        self.user = user
        self.call = ""
        self.sid: str | None = None
        self.status = "INITIATED"
        self.prompt_index = 0
        self.prompt_count = 0
        self.answered = 0
        self.buffer = ""
        self.answers: list[str] = []
        self.silent = 0
        self.last_seq = -1
        self.answered_by: str | None = None


class PhoneCallMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.db_name = f"machine_{uuid.uuid4().hex[:12]}"
        db = self.harness.client[self.db_name]
        self.pc = PhoneCall(db, {"clock": FakeClock(), "encryption": ENCRYPTOR})
        self.run(self.pc.setup())
        self.calls: dict[str, Model] = {}
        self.sid_counter = 0

    def run(self, coro: Any) -> Any:
        return self.harness.run(coro)

    def teardown(self) -> None:
        self.run(self.harness.client.drop_database(self.db_name))

    # -- helpers -----------------------------------------------------------------------

    def active_model(self, user: str) -> list[Model]:
        return [m for m in self.calls.values() if m.user == user and m.status in ACTIVE]

    def with_sid(self) -> list[Model]:
        return [m for m in self.calls.values() if m.sid]

    def check(self, out: dict[str, Any], ok: bool) -> None:
        if ok:
            assert "error" not in out, out
        else:
            assert "error" in out, out

    def prompting_ok(self, m: Model, index: int | None) -> bool:
        return (
            m.status == "IN_PROGRESS"
            and m.answered < m.prompt_count
            and (index is None or index == m.prompt_index)
        )

    def end(self, m: Model, status: str) -> None:
        m.status = status
        m.buffer = ""

    # -- model-checked steps ------------------------------------------------------------

    def do_initiate(self, user: str) -> Model | None:
        ok = not self.active_model(user)
        out = self.run(self.pc.initiate(user=user, scheduledCall="sc", toNumber="+15550001111"))
        self.check(out, ok)
        if not ok:
            return None
        self.calls[out["call"]] = m = Model(user)
        m.call = out["call"]
        return m

    def fresh_sid(self) -> str:
        self.sid_counter += 1
        return f"CA{self.sid_counter:032x}"

    def do_attach(self, m: Model, sid: str) -> None:
        used = [o.sid for o in self.calls.values() if o.sid and o is not m]
        ok = m.sid == sid or (m.sid is None and m.status == "INITIATED" and sid not in used)
        self.check(self.run(self.pc.attachSid(call=m.call, callSid=sid)), ok)
        if ok:
            m.sid = sid

    def do_connect(self, m: Model, answered_by: str | None) -> None:
        ok = m.status in ("INITIATED", "CONNECTED")
        self.check(self.run(self.pc.markConnected(callSid=m.sid, answeredBy=answered_by)), ok)
        if ok:
            m.status = "CONNECTED"
            m.answered_by = answered_by or m.answered_by

    def do_start(self, m: Model, count: int) -> None:
        ok = m.status == "CONNECTED"
        out = self.run(self.pc.startPrompting(callSid=m.sid, session="s", promptCount=count))
        self.check(out, ok)
        if ok:
            assert out["promptIndex"] == 0
            m.status, m.prompt_count, m.prompt_index, m.answered, m.silent = (
                "IN_PROGRESS",
                count,
                0,
                0,
                0,
            )

    def do_append(self, m: Model, word: str, index: int | None) -> None:
        ok = self.prompting_ok(m, index)
        out = self.run(self.pc.appendSpeech(callSid=m.sid, text=word, promptIndex=index))
        self.check(out, ok)
        if ok:
            m.buffer = f"{m.buffer} {word}" if m.buffer else word
            m.silent = 0
            assert (out["answerSoFar"], out["promptIndex"]) == (m.buffer, m.prompt_index)

    def do_silence(self, m: Model, index: int | None) -> None:
        ok = self.prompting_ok(m, index)
        out = self.run(self.pc.noteSilence(callSid=m.sid, promptIndex=index))
        self.check(out, ok)
        if ok:
            m.silent += 1
            assert out["silentTurns"] == m.silent

    def do_finish(self, m: Model, index: int) -> None:
        ok = self.prompting_ok(m, index)
        out = self.run(self.pc.finishAnswer(callSid=m.sid, promptIndex=index))
        self.check(out, ok)
        if not ok:
            return
        is_last = index == m.prompt_count - 1
        assert (out["position"], out["answer"], out["isLast"]) == (index, m.buffer, is_last)
        assert out["nextIndex"] == (None if is_last else index + 1)
        m.answers.append(m.buffer)
        m.buffer, m.silent, m.answered = "", 0, m.answered + 1
        m.prompt_index = index if is_last else index + 1

    def do_complete(self, m: Model) -> None:
        ok = m.status == "IN_PROGRESS" and m.answered == m.prompt_count
        out = self.run(self.pc.markCompleted(callSid=m.sid))
        self.check(out, ok)
        if ok:
            assert out["transcript"].count("Q: ") == m.prompt_count
            self.end(m, "COMPLETED")

    # -- rules -------------------------------------------------------------------------

    @initialize()
    def dial_everyone(self) -> None:
        for user in USERS:
            m = self.do_initiate(user)
            assert m is not None
            self.do_attach(m, self.fresh_sid())

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), steps=st.integers(1, 6), count=st.integers(1, 3))
    def advance(self, data: st.DataObject, steps: int, count: int) -> None:
        """A few steps along the happy path of a random call (a new call if it has ended)."""
        m: Model | None = data.draw(st.sampled_from([self.calls[c] for c in sorted(self.calls)]))
        for _ in range(steps):
            if m is None:
                return
            if m.status in TERMINAL:
                m = self.do_initiate(m.user)
            elif m.sid is None:
                self.do_attach(m, self.fresh_sid())
            elif m.status == "INITIATED":
                self.do_connect(m, data.draw(st.sampled_from((None, "person"))))
            elif m.status == "CONNECTED":
                self.do_start(m, count)
            elif m.answered < m.prompt_count:
                if data.draw(st.booleans()):
                    self.do_append(
                        m, data.draw(st.sampled_from(("yes", "calm day"))), m.prompt_index
                    )
                self.do_finish(m, m.prompt_index)
            else:
                self.do_complete(m)

    @rule(user=st.sampled_from(USERS))
    def initiate(self, user: str) -> None:
        self.do_initiate(user)

    @rule(user=st.sampled_from(USERS))
    def initiate_concurrently(self, user: str) -> None:
        async def both() -> list[dict[str, Any]]:
            return await asyncio.gather(
                *(
                    self.pc.initiate(user=user, scheduledCall="sc", toNumber="+15550001111")
                    for _ in range(2)
                )
            )

        results = self.run(both())
        wins = [r for r in results if "call" in r]
        assert len(wins) == (0 if self.active_model(user) else 1)
        for r in wins:
            self.calls[r["call"]] = m = Model(user)
            m.call = r["call"]

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), choice=st.sampled_from(("new", "same", "other")))
    def attach_sid(self, data: st.DataObject, choice: str) -> None:
        m = self.calls[data.draw(st.sampled_from(sorted(self.calls)))]
        used = [o.sid for o in self.calls.values() if o.sid and o is not m]
        if choice == "same" and m.sid:
            sid = m.sid
        elif choice == "other" and used:
            sid = data.draw(st.sampled_from(used))
        else:
            sid = self.fresh_sid()
        self.do_attach(m, sid)

    @rule()
    def unknown_sid_is_not_found(self) -> None:
        out = self.run(self.pc.markConnected(callSid="CA" + "f" * 32))
        assert out.get("errorKind") == "not_found"

    @precondition(lambda self: self.with_sid())
    @rule(data=st.data(), answered_by=st.sampled_from((None, "person", "machine")))
    def mark_connected(self, data: st.DataObject, answered_by: str | None) -> None:
        self.do_connect(data.draw(st.sampled_from(self.with_sid())), answered_by)

    @precondition(lambda self: self.with_sid())
    @rule(data=st.data(), count=st.integers(1, 3))
    def start_prompting(self, data: st.DataObject, count: int) -> None:
        self.do_start(data.draw(st.sampled_from(self.with_sid())), count)

    @precondition(lambda self: self.with_sid())
    @rule(
        data=st.data(),
        word=st.sampled_from(("yes", "calm day", "tea")),
        index=st.none() | st.integers(0, 3),
    )
    def append_speech(self, data: st.DataObject, word: str, index: int | None) -> None:
        self.do_append(data.draw(st.sampled_from(self.with_sid())), word, index)

    @precondition(lambda self: self.with_sid())
    @rule(data=st.data(), index=st.none() | st.integers(0, 3))
    def note_silence(self, data: st.DataObject, index: int | None) -> None:
        self.do_silence(data.draw(st.sampled_from(self.with_sid())), index)

    @precondition(lambda self: self.with_sid())
    @rule(data=st.data(), index=st.integers(0, 3), duplicated=st.booleans())
    def finish_answer(self, data: st.DataObject, index: int, duplicated: bool) -> None:
        m = data.draw(st.sampled_from(self.with_sid()))
        if duplicated:  # the same gather webhook twice in a row: the second is refused
            index = m.prompt_index
            self.do_finish(m, index)
        self.do_finish(m, index)

    @precondition(lambda self: self.with_sid())
    @rule(data=st.data())
    def mark_completed(self, data: st.DataObject) -> None:
        self.do_complete(data.draw(st.sampled_from(self.with_sid())))

    @precondition(lambda self: self.with_sid())
    @rule(
        data=st.data(),
        how=st.sampled_from(("abandon", "fail", "NO_ANSWER", "BUSY", "VOICEMAIL")),
    )
    def end_early(self, data: st.DataObject, how: str) -> None:
        m = data.draw(st.sampled_from(self.with_sid()))
        ok = m.status in ACTIVE
        if how == "abandon":
            out, status = self.run(self.pc.markAbandoned(callSid=m.sid, reason="r")), "ABANDONED"
        elif how == "fail":
            out, status = self.run(self.pc.markFailed(callSid=m.sid, error="e")), "FAILED"
        else:
            out, status = self.run(self.pc.markMissed(callSid=m.sid, outcome=how)), how
        self.check(out, ok)
        if ok:
            self.end(m, status)

    @precondition(lambda self: self.calls)
    @rule(data=st.data())
    def fail_before_dial(self, data: st.DataObject) -> None:
        m = self.calls[data.draw(st.sampled_from(sorted(self.calls)))]
        ok = m.status in ACTIVE and m.sid is None
        self.check(self.run(self.pc.failBeforeDial(call=m.call, error="dial failed")), ok)
        if ok:
            self.end(m, "FAILED")

    @precondition(lambda self: self.with_sid())
    @rule(
        data=st.data(),
        status=st.sampled_from(PROGRESS),
        seq=st.integers(0, 8),
        answered_by=st.sampled_from((None, "person", "machine")),
        replay=st.booleans(),
    )
    def apply_status(
        self, data: st.DataObject, status: str, seq: int, answered_by: str | None, replay: bool
    ) -> None:
        m = data.draw(st.sampled_from(self.with_sid()))
        for _ in range(2 if replay else 1):
            out = self.run(
                self.pc.applyStatus(
                    callSid=m.sid, progress=status, sequenceNumber=seq, answeredBy=answered_by
                )
            )
            assert "error" not in out, out
            target = None
            if seq > m.last_seq and m.status not in TERMINAL:  # an ended call takes nothing
                m.last_seq = seq
                m.answered_by = answered_by or m.answered_by
                target = self.expected_target(m, status)
            assert out["changed"] == (target is not None)
            if target == "CONNECTED":
                m.status = target
            elif target:
                self.end(m, target)
            assert out["outcome"] == m.status

    @staticmethod
    def expected_target(m: Model, status: str) -> str | None:
        if m.status in TERMINAL or status == "ringing":
            return None
        if status == "answered":
            return "CONNECTED" if m.status == "INITIATED" else None
        if status in ENDED:
            return ENDED[status]
        if m.status == "IN_PROGRESS":
            return "COMPLETED" if m.answered == m.prompt_count else "ABANDONED"
        return "VOICEMAIL" if m.answered_by == "machine" else "ABANDONED"

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        docs = {d["_id"]: d for d in self.run(self.pc.collection("calls").find({}).to_list(None))}
        assert docs.keys() == self.calls.keys()
        for call, m in self.calls.items():
            d = docs[call]
            assert (d["status"], d.get("callSid"), d["lastSequence"]) == (
                m.status,
                m.sid,
                m.last_seq,
            )
            if d["promptCount"]:
                assert 0 <= d["promptIndex"] <= d["promptCount"] - 1
                assert (d["promptIndex"], d["answeredCount"]) == (m.prompt_index, m.answered)
            assert (d.get("activeUser") is not None) == (m.status in ACTIVE)
            if m.sid and m.status == "IN_PROGRESS":
                answers = self.run(self.pc._answers(callSid=m.sid))
                assert [a["answer"] for a in answers] == m.answers
        for user in USERS:
            active = [c for c, d in docs.items() if d["user"] == user and d["status"] in ACTIVE]
            assert len(active) <= 1


def test_phone_call_state_machine(harness: Harness) -> None:
    PhoneCallMachine.harness = harness
    run_state_machine_as_test(
        PhoneCallMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
