"""How is the provider's report of the line applied? Once, and in any order.

The webhook edge's ``/call/progress`` events (docs/webhooks.md, "The neutral events")
are applied by PhoneCall.applyStatus, which ignores duplicates and late reports (a
report for a call that is over changes nothing). Only a change of status has effects,
and they are told elsewhere: missed_call.py (the call did not reach the user) and
call_ended.py (what an ended call leaves). The provider is answered first, as soon as
the report is applied: syncs/plugin.py registers this module before those two, and
declares that order (``ORDER``).
"""

from __future__ import annotations

from conceptkit import Sync, concepts, vars

Requesting, PhoneCall = concepts("Requesting PhoneCall")
request, sid, status, seq, answered_by, duration, call, err = vars(
    "request sid status seq answered_by duration call err"
)

PROGRESS = "/call/progress"

ApplyStatus = Sync(
    "ApplyStatus",
    when=[
        Requesting.request(
            {
                "path": PROGRESS,
                "body": {
                    "callSid": sid,
                    "progress": status,
                    "sequence": seq,
                    "answeredBy": answered_by,
                    "durationSeconds": duration,
                    "call": call,
                },
            },
            {},
        )
    ],
    then=[
        PhoneCall.applyStatus(
            {
                "callSid": sid,
                "progress": status,
                "sequenceNumber": seq,
                "answeredBy": answered_by,
                "durationSeconds": duration,
                "call": call,
            }
        )
    ],
)

AcknowledgeStatus = Sync(
    "AcknowledgeStatus",
    doc="answer Twilio once the status was applied (or found to be about an unknown call)",
    when=[
        Requesting.request({"path": PROGRESS}, {"request": request}),
        PhoneCall.applyStatus({}, {}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

AcknowledgeUnknownStatus = Sync(
    "AcknowledgeUnknownStatus",
    when=[
        Requesting.request({"path": PROGRESS}, {"request": request}),
        PhoneCall.applyStatus({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)
