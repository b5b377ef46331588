"""What happens when someone picks up? A person is greeted and asked the first prompt.

The edge's ``/call/answered`` event (docs/webhooks.md) says who answered: ``person``,
``machine``, or None when the provider cannot tell (taken for a person). A machine is
hung up on and the attempt counts as missed: missed_call.py (``MachineAnswered``).
The greeting may recall what the person said last time to their follow-up prompt
(syncs/follow_up.py): one of three greeting syncs fires, by the follow-up's case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conceptkit import Computed, Filter, Sync, concepts, vars

from . import follow_up
from .wording import SORRY, greeting

Requesting, PhoneCall, ReflectionSession, Prompts, Profile, CallScheduler = concepts(
    "Requesting PhoneCall ReflectionSession Prompts Profile CallScheduler"
)
request, sid, answered_by, user, scheduled, prompts, session, name, err, call = vars(
    "request sid answered_by user scheduled prompts session name err call"
)
positions, asking = vars("positions asking")

ANSWERED = "/call/answered"


PersonAnswered = Sync(
    "PersonAnswered",
    when=[
        Requesting.request(
            {
                "path": ANSWERED,
                "body": {"callSid": sid, "answeredBy": answered_by, "call": call},
            },
            {},
        )
    ],
    where=[Filter(lambda f: f["answered_by"] != "machine", "not answered by a machine")],
    then=[PhoneCall.markConnected({"callSid": sid, "answeredBy": answered_by, "call": call})],
)

UnknownCallAnswered = Sync(
    "UnknownCallAnswered",
    doc="a call this service has no record of (or one already over): end it politely",
    when=[
        Requesting.request({"path": ANSWERED}, {"request": request}),
        PhoneCall.markConnected({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"hangup": True}})],
)

StartReflection = Sync(
    "StartReflection",
    doc="the reflection snapshots the user's prompts as they are now",
    when=[PhoneCall.markConnected({"callSid": sid}, {"user": user, "scheduledCall": scheduled})],
    where=[Prompts._promptList({"user": user}, {"prompts": prompts})],
    then=[
        ReflectionSession.startSession(
            {"user": user, "method": "PHONE", "prompts": prompts, "callRef": scheduled}
        )
    ],
)

StartPrompting = Sync(
    "StartPrompting",
    doc="the call asks the prompts the reflection has left (all of them, unless it continues "
    "one begun by typing)",
    when=[
        PhoneCall.markConnected({"callSid": sid}, {}),
        ReflectionSession.startSession({}, {"session": session, "positions": positions}),
    ],
    then=[
        PhoneCall.startPrompting(
            {
                "callSid": sid,
                "session": session,
                "promptCount": Computed(lambda f: len(f["positions"]), "len(positions)"),
                "positions": positions,
            }
        )
    ],
)


def _greet(name_: str, doc: str, where: list[Any], recall: Callable[[Any], str | None]) -> Sync:
    """A greeting sync: the follow-up's case (``where``, syncs/follow_up.py), then the
    pronounced name (else the display name), and the reply: hello, what ``recall`` gives
    (if anything), the first prompt, then listen."""
    return Sync(
        name_,
        doc=doc,
        when=[
            Requesting.request({"path": ANSWERED}, {"request": request}),
            ReflectionSession.startSession({"user": user}, {"prompts": asking}),
            PhoneCall.startPrompting({"callSid": sid}, {}),
        ],
        where=[*where, Profile._spokenName({"user": user}, {"name": name})],
        then=[
            Requesting.respond(
                {
                    "request": request,
                    "output": Computed(
                        lambda f: {
                            "say": greeting(f["name"], f["asking"][0], recall(f)),
                            "listen": "answer",
                        },
                        "greeting + first prompt, then listen",
                    ),
                }
            )
        ],
    )


Greet = _greet(
    "Greet",
    "greet by the pronounced name (else the display name), then ask the first prompt",
    follow_up.OFF,
    follow_up.nothing,
)
GreetWithAFollowUp = _greet(
    "GreetWithAFollowUp",
    "the follow-up is on: the greeting recalls what the user last said to the follow-up "
    "prompt, and when, before the first prompt",
    follow_up.RECALLED,
    follow_up.recalled,
)
GreetWithNothingToRecall = _greet(
    "GreetWithNothingToRecall",
    "the follow-up is on but no recent reflection has an answer to the follow-up prompt: "
    "the greeting as usual",
    follow_up.NOTHING_TO_RECALL,
    follow_up.nothing,
)

ReflectionCouldNotStart = Sync(
    "ReflectionCouldNotStart",
    doc="e.g. every prompt already answered: apologise, end the call, let the scheduler retry",
    when=[
        Requesting.request({"path": ANSWERED}, {"request": request}),
        PhoneCall.markConnected({"callSid": sid}, {}),
        ReflectionSession.startSession({}, {"error": err}),
    ],
    then=[  # the caller hears it first: the bookkeeping (a retry, or the day's text) follows
        Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}}),
        PhoneCall.markFailed({"callSid": sid, "error": err}),
    ],
)

ReflectionOfAnEndedCall = Sync(
    "ReflectionOfAnEndedCall",
    doc="the call ended (a hang-up, or our apology after a slow turn) before prompting "
    "began: the reflection just started is closed, not left in progress",
    when=[
        ReflectionSession.startSession({"user": user}, {"session": session}),
        PhoneCall.startPrompting({}, {"error": err, "ended": True}),
    ],
    then=[
        ReflectionSession.closeCall(
            {
                "user": user,
                "session": session,
                "answers": [],
                "transcript": "",
                "reason": "the call ended before the reflection began",
            }
        )
    ],
)
