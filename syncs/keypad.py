"""What a key pressed during a call does (docs/simulator.md, "Keys during a call").

A key is the edge's ``/call/heard`` event (``/call/rating`` at the rating question) with
``heard: "key"`` and ``key`` one of 0-9, * or # (docs/webhooks.md), whatever the transport.

At a prompt: 1 skips it (what was said so far is its answer, then the call goes on as
after a finished answer: conversation.py's ``AskNextPrompt``, ``AskRating``,
``SayGoodbye``, ``RecordAnswer``); 0 repeats it (what was said so far still counts);
9 ends the call, keeping what was said (``PhoneCall.endEarly``; call_ended.py closes the
reflection and completes the scheduled call, so it is not retried); any other key:
the keypad's help, and the call listens on.

At the rating question: 1 to 5 rate the day (1 is -2, very hard ... 5 is +2, wonderful)
and end the call; 9 ends it with no rating; 0 repeats the question; any other key:
the help, and it listens on. A key for a call that is over (or unknown) gets the same
apology and hang-up as speech does.
"""

from __future__ import annotations

from conceptkit import Computed, Filter, Let, Sync, concepts, vars

from .wording import (
    GOODBYE,
    KEYS_HELP,
    RATING_KEYS,
    RATING_KEYS_HELP,
    RATING_QUESTION,
    SORRY,
)

Requesting, PhoneCall, ReflectionSession = concepts("Requesting PhoneCall ReflectionSession")
request, sid, key, index, user, session, prompts, at, rating, err = vars(
    "request sid key index user session prompts at rating err"
)

HEARD = "/call/heard"
RATING = "/call/rating"
SKIP, REPEAT, FINISH = "1", "0", "9"
AT_A_PROMPT = {"atRating": False}
AT_THE_RATING = {"atRating": True}


def _prompt_text(f: dict) -> str:
    """The text of the reflection's prompt at position ``at`` (1-based)."""
    return next(p["text"] for p in f["prompts"] if p["position"] == f["at"])


# -- a key: where is the call? ----------------------------------------------------------------

KeyAtAPrompt = Sync(
    "KeyAtAPrompt",
    when=[
        Requesting.request(
            {"path": HEARD, "body": {"callSid": sid, "heard": "key", "key": key}}, {}
        )
    ],
    then=[PhoneCall.pressKey({"callSid": sid, "key": key, "atRating": False})],
)

KeyAtTheRatingQuestion = Sync(
    "KeyAtTheRatingQuestion",
    when=[
        Requesting.request(
            {"path": RATING, "body": {"callSid": sid, "heard": "key", "key": key}}, {}
        )
    ],
    then=[PhoneCall.pressKey({"callSid": sid, "key": key, "atRating": True})],
)

# -- at a prompt -----------------------------------------------------------------------------

SkipPromptByKey = Sync(
    "SkipPromptByKey",
    doc="1: what was said so far is the answer; the call goes on as after a finished answer",
    when=[PhoneCall.pressKey({"callSid": sid}, {"key": SKIP, **AT_A_PROMPT, "promptIndex": index})],
    then=[PhoneCall.finishAnswer({"callSid": sid, "promptIndex": index})],
)

RepeatPromptByKey = Sync(
    "RepeatPromptByKey",
    doc="0: the prompt again; what was said before still counts",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.pressKey(
            {},
            {
                "key": REPEAT,
                **AT_A_PROMPT,
                "user": user,
                "session": session,
                "sessionPosition": at,
            },
        ),
    ],
    where=[ReflectionSession._session({"user": user, "session": session}, {"prompts": prompts})],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: {"say": [_prompt_text(f)], "listen": "answer"}, "the prompt again"
                ),
            }
        )
    ],
)

EndCallByKey = Sync(
    "EndCallByKey",
    doc="9: keep what was said (the current answer too) and end the call",
    when=[PhoneCall.pressKey({"callSid": sid}, {"key": FINISH, **AT_A_PROMPT})],
    then=[PhoneCall.endEarly({"callSid": sid})],
)

GoodbyeAfterEndingEarly = Sync(
    "GoodbyeAfterEndingEarly",
    doc="the goodbye comes before call_ended.py's bookkeeping of the ended call",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.endEarly({}, {}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [GOODBYE], "hangup": True}})],
)

KeypadHelp = Sync(
    "KeypadHelp",
    doc="a key that means nothing at a prompt: say what the keys do, and listen on",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.pressKey({}, {"key": key, **AT_A_PROMPT}),
    ],
    where=[Filter(lambda f: f["key"] not in (SKIP, REPEAT, FINISH), "not 1, 0 or 9")],
    then=[
        Requesting.respond({"request": request, "output": {"say": [KEYS_HELP], "listen": "answer"}})
    ],
)

# -- at the rating question ------------------------------------------------------------------

RateByKey = Sync(
    "RateByKey",
    doc="1 to 5 rate the day, -2 to +2 (registered before GoodbyeAfterRatingKey, which ends "
    "the call: the rating is set while it is live)",
    when=[PhoneCall.pressKey({}, {"key": key, **AT_THE_RATING, "user": user, "session": session})],
    where=[
        Filter(lambda f: f["key"] in RATING_KEYS, "a key from 1 to 5"),
        Let(rating, lambda f: RATING_KEYS[f["key"]], "the rating the key gives"),
    ],
    then=[ReflectionSession.setRating({"user": user, "session": session, "rating": rating})],
)

GoodbyeAfterRatingKey = Sync(
    "GoodbyeAfterRatingKey",
    doc="a rating key, or 9 (no rating): goodbye, and the call is complete",
    when=[
        Requesting.request({"path": RATING}, {"request": request}),
        PhoneCall.pressKey({"callSid": sid}, {"key": key, **AT_THE_RATING}),
    ],
    where=[Filter(lambda f: f["key"] in RATING_KEYS or f["key"] == FINISH, "1 to 5, or 9")],
    then=[
        Requesting.respond({"request": request, "output": {"say": [GOODBYE], "hangup": True}}),
        PhoneCall.markCompleted({"callSid": sid}),
    ],
)

RepeatRatingQuestion = Sync(
    "RepeatRatingQuestion",
    when=[
        Requesting.request({"path": RATING}, {"request": request}),
        PhoneCall.pressKey({}, {"key": REPEAT, **AT_THE_RATING}),
    ],
    then=[
        Requesting.respond(
            {"request": request, "output": {"say": [RATING_QUESTION], "listen": "rating"}}
        )
    ],
)

RatingKeypadHelp = Sync(
    "RatingKeypadHelp",
    when=[
        Requesting.request({"path": RATING}, {"request": request}),
        PhoneCall.pressKey({}, {"key": key, **AT_THE_RATING}),
    ],
    where=[
        Filter(
            lambda f: f["key"] not in RATING_KEYS and f["key"] not in (REPEAT, FINISH),
            "not 0 to 5, nor 9",
        )
    ],
    then=[
        Requesting.respond(
            {"request": request, "output": {"say": [RATING_KEYS_HELP], "listen": "rating"}}
        )
    ],
)

# -- a key that cannot be taken (unknown or finished call) ---------------------------------------

KeyOnUnknownCall = Sync(
    "KeyOnUnknownCall",
    doc="as speech on an unknown call: the apology, and hang up",
    when=[
        Requesting.request({}, {"request": request}),
        PhoneCall.pressKey({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)

EndingEarlyRefused = Sync(
    "EndingEarlyRefused",
    doc="the call ended meanwhile (the line went down between the key and its ending)",
    when=[
        Requesting.request({}, {"request": request}),
        PhoneCall.endEarly({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)
