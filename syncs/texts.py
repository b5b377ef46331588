"""What happens after a missed day, by text: one message, and the replies to it.

When the last attempt of a day's planned call fails (``CallScheduler.recordMissed`` with
no attempt left) and no attempt began a reflection, the number called gets one text, ``MISSED_DAY_TEXT`` (TextMessages
sends it once, even across crashes; the reconciler finishes a send a crash cut short,
invariants.py ``TextNeverSettled``). A call the user asked for ("call me now", a snooze)
gets none: they are on hand to see it fail.

A reply reaches the edge's ``/text/received`` event {from, text, messageId}
(docs/webhooks.md); TextMessages reads its first word for the user it last texted at
that number, within a day:

- CALL: a call now, as "call me now" in the web app; LATER: a call in 10 minutes;
- TYPE: a link to today's page, to write the reflection instead;
- STOP / START: no more texts to that number / texts again. Alone, they are carrier
  keywords the provider confirms itself, so the reply is empty; within words ("stop
  texting me"), which the provider does not act on, the confirmation is ours;
- HELP or anything else: what can be replied.

The reply is ``{"text": ..., "link": path?}``; the edge renders it as the provider's
reply message, with the link made absolute on the public URL.
"""

from __future__ import annotations

from conceptkit import Absent, Computed, Filter, Sync, concepts, vars
from concepts.text_messages import is_bare

Requesting, CallScheduler, TextMessages, Profile, PhoneVerification, ReflectionSession = concepts(
    "Requesting CallScheduler TextMessages Profile PhoneVerification ReflectionSession"
)
request, user, scheduled, phone, notice, retries, err = vars(
    "request user scheduled phone notice retries err"
)
sender, words, message, command = vars("sender words message command")

TEXT_RECEIVED = "/text/received"  # the edge's event (docs/webhooks.md)
SNOOZE_MINUTES = 10
MISSED_DAY_TEXT = (
    "We couldn't reach you today. Reply CALL for a call now, LATER for a call in 10 "
    "minutes, or TYPE for a link to write instead. Reply STOP to stop these texts."
)
HELP_TEXT = (
    "Reply CALL for a call now, LATER for a call in 10 minutes, or TYPE for a link to "
    "write today's reflection. Reply STOP to stop texts about missed calls."
)
NO_NOTICE_TEXT = (
    "There is no missed call to answer from this number today. Your calls and "
    "reflections are in the web app."
)
STOPPED_TEXT = "You won't get texts about missed calls any more. Reply START to get them again."
STARTED_TEXT = "You'll get a text again when we can't reach you for a day's call."
CALLING_TEXT = "Calling you now."
LATER_TEXT = f"We'll call you in {SNOOZE_MINUTES} minutes."
TYPE_TEXT = "Write today's reflection here:"
NEEDS_VERIFIED_TEXT = (
    "We can't call this number until it is verified again in the web app, on Account."
)


def _reply(text: str, link: str | None = None) -> object:
    output = {"text": text} if link is None else {"text": text, "link": link}
    return Requesting.respond({"request": request, "output": output})


def _refusal(opening: str) -> object:
    """The scheduler's refusal, after ``opening``, in its own words."""
    output = Computed(lambda f: {"text": f"{opening}: {f['err']}."}, "the refusal")
    return Requesting.respond({"request": request, "output": output})


KNOWN = Filter(lambda f: f["user"] is not None, "the number was texted today")


RECEIVED = Requesting.request(
    {"path": TEXT_RECEIVED, "body": {"from": sender, "text": words, "messageId": message}},
    {"request": request},
)


def _replied(what: str | object) -> object:
    """The reply was read as ``what`` (the first delivery of it), for ``user``: the one
    texted at this number today, or None."""
    return TextMessages.receive({}, {"command": what, "user": user, "duplicate": False})


# -- the missed day ------------------------------------------------------------------

TextAfterMissedDay = Sync(
    "TextAfterMissedDay",
    doc="the day's planned call failed its last attempt: one text to the number called",
    when=[CallScheduler.recordMissed({}, {"scheduledCall": scheduled, "status": "FAILED"})],
    where=[
        CallScheduler._call(
            {"scheduledCall": scheduled},
            {"user": user, "origin": "schedule", "phoneNumber": phone},
        ),
        # "we couldn't reach you" is true only if no attempt began a reflection (a call
        # that failed midway, after our apology, did reach them)
        Absent(ReflectionSession._byCallRef({"user": user, "callRef": scheduled}, {})),
    ],
    then=[
        TextMessages.notify(
            {"user": user, "about": scheduled, "phoneNumber": phone, "text": MISSED_DAY_TEXT}
        )
    ],
)

SendTheText = Sync(
    "SendTheText",
    when=[TextMessages.notify({}, {"notice": notice, "status": "PENDING"})],
    then=[TextMessages.send({"notice": notice})],
)

# -- a reply ---------------------------------------------------------------------------

ReadTheReply = Sync(
    "ReadTheReply",
    when=[RECEIVED],
    then=[TextMessages.receive({"messageId": message, "phoneNumber": sender, "text": words})],
)

RepliedCall = Sync(
    "RepliedCall",
    doc="CALL: a call now, to the profile's verified number",
    when=[RECEIVED, _replied("call")],
    where=[
        KNOWN,
        Profile._getProfile({"user": user}, {"phoneNumber": phone, "maxRetries": retries}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[CallScheduler.callNow({"user": user, "phoneNumber": phone, "maxRetries": retries})],
)

RepliedLater = Sync(
    "RepliedLater",
    doc="LATER: a call in 10 minutes (the waiting call moves there, or one is queued)",
    when=[RECEIVED, _replied("later")],
    where=[
        KNOWN,
        Profile._getProfile({"user": user}, {"phoneNumber": phone, "maxRetries": retries}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": True}),
    ],
    then=[
        CallScheduler.snooze(
            {
                "user": user,
                "phoneNumber": phone,
                "minutes": SNOOZE_MINUTES,
                "maxRetries": retries,
            }
        )
    ],
)

CallingFromTheText = Sync(
    "CallingFromTheText",
    when=[RECEIVED, CallScheduler.callNow({}, {"scheduledCall": scheduled})],
    then=[_reply(CALLING_TEXT)],
)

CallingLaterFromTheText = Sync(
    "CallingLaterFromTheText",
    when=[RECEIVED, CallScheduler.snooze({}, {"scheduledCall": scheduled})],
    then=[_reply(LATER_TEXT)],
)

CallFromTheTextRefused = Sync(
    "CallFromTheTextRefused",
    doc="the scheduler's refusal, in its own words (a call already on its way, say)",
    when=[RECEIVED, CallScheduler.callNow({}, {"error": err})],
    then=[_refusal("We can't call you now")],
)

LaterFromTheTextRefused = Sync(
    "LaterFromTheTextRefused",
    when=[RECEIVED, CallScheduler.snooze({}, {"error": err})],
    then=[_refusal("We can't call you later")],
)

CallFromTheTextNeedsVerifiedNumber = Sync(
    "CallFromTheTextNeedsVerifiedNumber",
    doc="CALL or LATER, but the profile's number is no longer verified (or there is none)",
    when=[RECEIVED, _replied(command)],
    where=[
        KNOWN,
        Filter(lambda f: f["command"] in ("call", "later"), "asks for a call"),
        Profile._getProfile({"user": user}, {"phoneNumber": phone}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": phone}, {"verified": False}),
    ],
    then=[_reply(NEEDS_VERIFIED_TEXT)],
)

CallFromTheTextWithoutProfile = Sync(
    "CallFromTheTextWithoutProfile",
    doc="CALL or LATER for a user whose profile is gone (deleted since the text)",
    when=[RECEIVED, _replied(command)],
    where=[
        KNOWN,
        Filter(lambda f: f["command"] in ("call", "later"), "asks for a call"),
        Absent(Profile._getProfile({"user": user}, {})),
    ],
    then=[_reply(NO_NOTICE_TEXT)],
)

RepliedType = Sync(
    "RepliedType",
    doc="TYPE: a link to today's page, where the prompts can be answered by typing",
    when=[RECEIVED, _replied("type")],
    where=[KNOWN],
    then=[_reply(TYPE_TEXT, link="/today#type")],
)

RepliedWithoutNotice = Sync(
    "RepliedWithoutNotice",
    doc="CALL, LATER or TYPE from a number not texted today: nothing to act on",
    when=[
        RECEIVED,
        TextMessages.receive({}, {"command": command, "user": None, "duplicate": False}),
    ],
    where=[Filter(lambda f: f["command"] in ("call", "later", "type"), "asks for something")],
    then=[_reply(NO_NOTICE_TEXT)],
)

RepliedStopOrStart = Sync(
    "RepliedStopOrStart",
    doc="STOP or START alone: kept by TextMessages; the provider confirms these carrier "
    "keywords itself, so our reply is empty",
    when=[RECEIVED, TextMessages.receive({}, {"command": command})],
    where=[
        Filter(lambda f: f["command"] in ("stop", "start"), "a carrier keyword"),
        Filter(lambda f: is_bare(f["words"]), "alone"),
    ],
    then=[Requesting.respond({"request": request, "output": {}})],
)

StoppedInWords = Sync(
    "StoppedInWords",
    doc='"Stop texting me": kept as STOP, but the provider acts only on the bare word, '
    "so the confirmation is ours",
    when=[RECEIVED, TextMessages.receive({}, {"command": "stop"})],
    where=[Filter(lambda f: not is_bare(f["words"]), "more than the keyword")],
    then=[_reply(STOPPED_TEXT)],
)

StartedInWords = Sync(
    "StartedInWords",
    when=[RECEIVED, TextMessages.receive({}, {"command": "start"})],
    where=[Filter(lambda f: not is_bare(f["words"]), "more than the keyword")],
    then=[_reply(STARTED_TEXT)],
)

RepliedHelp = Sync(
    "RepliedHelp",
    doc="HELP, or words that are no command: what can be replied",
    when=[RECEIVED, TextMessages.receive({}, {"command": command, "duplicate": False})],
    where=[Filter(lambda f: f["command"] in ("help", "unknown"), "no command")],
    then=[_reply(HELP_TEXT)],
)

RepliedAgain = Sync(
    "RepliedAgain",
    doc="the provider delivered a message already received: it has been acted on once",
    when=[RECEIVED, TextMessages.receive({}, {"duplicate": True, "command": command})],
    where=[Filter(lambda f: f["command"] not in ("stop", "start"), "not a carrier keyword")],
    then=[Requesting.respond({"request": request, "output": {}})],
)

ReplyUnreadable = Sync(
    "ReplyUnreadable",
    doc="a sender that is no phone number (a short code, a name): nothing to do",
    when=[RECEIVED, TextMessages.receive({}, {"error": err})],
    then=[Requesting.respond({"request": request, "output": {}})],
)
