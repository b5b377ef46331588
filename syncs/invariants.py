"""No user is ever stuck: the invariants the reconciler (in the worker) checks again and again.

Each is found by queries from the frame ``{"now", ...limits}`` (the limits come from the
worker's configuration, see ``LIMITS``) and repaired with the same actions the normal
flows use; every repair is logged (``Reconciling.breached``) and counted
(``reflection_reconciler_repairs_total``). docs/invariants.md explains each one.

The limits leave the normal flows time to act first, so a repair never races them:
- ``settle``: how long after a call's end its reactions may still be running;
- ``idleCall``: how long a live call may go unchanged before the provider is asked
  whether it is still live (a whole spoken answer fits inside it);
- ``typedIdle``: how long a typed reflection may sit untouched before it is closed;
- ``unclearAfter``: when an unclear dial is looked up again;
- ``lostAfter``: when a call the provider never ended is closed (its 15-minute limit is
  far behind by then);
- ``textSettle``: when a text still not known to be sent is sent, or looked up.
"""

from __future__ import annotations

import datetime as dt

from conceptkit import Absent, Computed, Filter, Invariant, Sync, concepts, vars

(
    ReflectionSession,
    PhoneCall,
    CallScheduler,
    Dialer,
    TextMessages,
    Reconciling,
) = concepts("ReflectionSession PhoneCall CallScheduler Dialer TextMessages Reconciling")
user, session, answers, transcript, sid, call, scheduled, outcome, reached, live = vars(
    "user session answers transcript sid call scheduled outcome reached live"
)
idle_since, attempt, notice = vars("idle_since attempt notice")
status, duration, answered_by = vars("status duration answered_by")

LIMITS = {
    "settle": dt.timedelta(seconds=60),
    "idleCall": dt.timedelta(seconds=60),
    "typedIdle": dt.timedelta(hours=3),
    "unclearAfter": dt.timedelta(seconds=30),
    "lostAfter": dt.timedelta(minutes=25),
    "textSettle": dt.timedelta(minutes=5),
}
# The provider's own account of a call's end outranks any status callback still to come.
FINAL_SEQUENCE = 1_000_000_000


def before(limit: str) -> Computed:
    return Computed(lambda f: f["now"] - f[limit], f"now - {limit}")


PhoneReflectionWithoutCall = Invariant(
    "PhoneReflectionWithoutCall",
    doc="no phone reflection is in progress without a live call: it is closed with "
    "everything its call heard (COMPLETED if every prompt has an answer, else ABANDONED)",
    find=[
        ReflectionSession._untouched(
            {"method": "PHONE", "before": before("settle")},
            {"user": user, "session": session, "at": idle_since},
        ),
        Absent(PhoneCall._activeForUser({"user": user}, {})),
        PhoneCall._saidInSession(
            {"user": user, "session": session}, {"answers": answers, "transcript": transcript}
        ),
    ],
    repair=[
        ReflectionSession.closeCall(
            {
                "user": user,
                "session": session,
                "answers": answers,
                "transcript": transcript,
                "reason": "the call ended without being closed",
                "untouchedSince": idle_since,  # not if a new call picked it up meanwhile
            }
        )
    ],
)

TypedReflectionLeftOpen = Invariant(
    "TypedReflectionLeftOpen",
    doc="no typed reflection stays in progress untouched for long: it is abandoned, its "
    "answers kept",
    find=[
        ReflectionSession._untouched(
            {"method": "TEXT", "before": before("typedIdle")},
            {"user": user, "session": session, "at": idle_since},
        )
    ],
    repair=[
        ReflectionSession.abandonUntouched(
            {
                "user": user,
                "session": session,
                "untouchedSince": idle_since,
                "reason": "left unfinished",
            }
        )
    ],
)

FINISHED_ATTEMPT = [
    CallScheduler._attempting(
        {"before": before("settle")}, {"scheduledCall": scheduled, "attempt": attempt}
    ),
    PhoneCall._lastOutcome(
        {"scheduledCall": scheduled}, {"outcome": outcome, "reached": reached, "live": live}
    ),
    Filter(lambda f: not f["live"], "no call for it is live"),
]

AttemptReachedButNotClosed = Invariant(
    "AttemptReachedButNotClosed",
    doc="no scheduled call stays under way once its call has ended after reaching the user: "
    "it is completed, freeing the user for the next call",
    find=[*FINISHED_ATTEMPT, Filter(lambda f: f["reached"], "the reflection began")],
    repair=[CallScheduler.markCompleted({"scheduledCall": scheduled, "attempt": attempt})],
)

AttemptMissedButNotRetried = Invariant(
    "AttemptMissedButNotRetried",
    doc="no scheduled call stays under way once its call ended without reaching the user "
    "(or never existed): the miss is recorded, and retried while attempts remain",
    find=[*FINISHED_ATTEMPT, Filter(lambda f: not f["reached"], "the user was not reached")],
    repair=[
        CallScheduler.recordMissed(
            {
                "scheduledCall": scheduled,
                "outcome": Computed(lambda f: f["outcome"] or "LOST", "outcome or LOST"),
                "attempt": attempt,  # not the next attempt, if this one moved on meanwhile
            }
        )
    ],
)

CallOutlivedItsEnd = Invariant(
    "CallOutlivedItsEnd",
    doc="no call stays live here after the provider ended it: a live call unchanged for a "
    "while is looked up, and an end the provider reports is applied (ProviderEndedTheCall)",
    find=[PhoneCall._idle({"before": before("idleCall")}, {"callSid": sid})],
    repair=[Dialer.lookUp({"callSid": sid})],
)

ProviderEndedTheCall = Sync(
    "ProviderEndedTheCall",
    doc="the provider says the call is over: its end, as if the status callback had come",
    when=[
        Reconciling.breached({"invariant": "CallOutlivedItsEnd"}, {}),
        Dialer.lookUp(
            {},
            {
                "callSid": sid,
                "status": status,
                "ended": True,
                "durationSeconds": duration,
                "answeredBy": answered_by,
            },
        ),
    ],
    then=[
        PhoneCall.applyStatus(
            {
                "callSid": sid,
                "progress": status,  # the port's status is neutral already
                "sequenceNumber": FINAL_SEQUENCE,
                "durationSeconds": duration,
                "answeredBy": answered_by,
            }
        )
    ],
)

DialStillUnclear = Invariant(
    "DialStillUnclear",
    doc="no dial stays unclear: the provider is asked until the call is adopted or shown "
    "never to have been placed (a miss, then retried)",
    find=[Dialer._unclear({"before": before("unclearAfter")}, {"call": call})],
    repair=[Dialer.reconcile({"call": call})],
)

CallNeverEnded = Invariant(
    "CallNeverEnded",
    doc="no call stays live far past the provider's 15-minute limit (the provider could not "
    "be asked): it is closed as lost, its answers kept",
    find=[
        PhoneCall._stale({"before": before("lostAfter")}, {"callSid": sid}),
        Filter(lambda f: f["sid"] is not None, "it was dialled"),
    ],
    repair=[
        PhoneCall.markAbandoned(
            {"callSid": sid, "reason": "the provider never reported the end of the call"}
        )
    ],
)

DialNeverSent = Invariant(
    "DialNeverSent",
    doc="no call waits forever for a dial that never happened: it fails, and is retried",
    find=[
        PhoneCall._stale({"before": before("lostAfter")}, {"call": call, "callSid": sid}),
        Filter(lambda f: f["sid"] is None, "it was never dialled"),
    ],
    repair=[PhoneCall.failBeforeDial({"call": call, "error": "never dialled"})],
)

TextNeverSettled = Invariant(
    "TextNeverSettled",
    doc="no text owed stays unsent: one a crash cut short is looked up at the provider and "
    "sent only if it did not go out; one whose send never ran is sent",
    find=[TextMessages._unsettled({"before": before("textSettle")}, {"notice": notice})],
    repair=[TextMessages.send({"notice": notice})],
)

INVARIANTS = [
    PhoneReflectionWithoutCall,
    TypedReflectionLeftOpen,
    AttemptReachedButNotClosed,
    AttemptMissedButNotRetried,
    CallOutlivedItsEnd,
    DialStillUnclear,
    CallNeverEnded,
    DialNeverSent,
    TextNeverSettled,
]
