"""One prompt at a time: listen, judge the answer after each pause, move on when it is complete.

Each turn is the webhook edge's ``/call/heard`` event (docs/webhooks.md): the caller
said ``text`` (``heard: speech``) or stayed silent (``heard: silence``); ``/call/rating``
is the same for the answer to the rating question; a key (``heard: key``) is keypad.py's.
"""

from __future__ import annotations

from typing import Any

from conceptkit import Absent, Computed, Filter, Let, Sync, concepts, vars

from .wording import (
    GOODBYE,
    NUDGE,
    RATING_QUESTION,
    SORRY,
    TAKE_YOUR_TIME,
    next_prompt,
    parse_rating,
)

Requesting, PhoneCall, ReflectionSession, Profile, AnswerCheck = concepts(
    "Requesting PhoneCall ReflectionSession Profile AnswerCheck"
)
(
    request,
    sid,
    text,
    answer,
    index,
    user,
    session,
    prompts,
    question,
    turns,
    nudge,
    position,
    next_index,
    rating,
    call_info,
    at,
    err,
    pause,
    heard,
) = vars(
    "request sid text answer index user session prompts question turns nudge position next_index rating call_info at err pause heard"
)

HEARD = "/call/heard"
RATING = "/call/rating"
# Each turn says how long the line was quiet before it was reported (``pauseSeconds``):
# the transport's end-of-speech pause, or for silence the whole quiet wait. The judge
# weighs it: the same words after a longer pause are more likely a finished answer.


# where-clause: the prompts of the reflection being answered (appendSpeech and
# noteSilence name its user and session)
PROMPTS_OF_THE_SESSION = (
    ReflectionSession._session({"user": user, "session": session}, {"prompts": prompts}),
)


def prompt_text(f: dict) -> str:
    """The text of the reflection's prompt at position ``at`` (1-based)."""
    return next(p["text"] for p in f["prompts"] if p["position"] == f["at"])


def judge_the_answer_so_far(*, after_silence: bool = False) -> Any:
    """AnswerCheck.judge of the frame's answer to its prompt, after its ``pause``."""
    inputs = {
        "callSid": sid,
        "promptIndex": index,
        "question": question,
        "answer": answer,
        "pauseSeconds": pause,
    }
    return AnswerCheck.judge({**inputs, "afterSilence": True} if after_silence else inputs)


# -- speech: append it, then ask whether the answer is complete ---------------------------

SpeechHeard = Sync(
    "SpeechHeard",
    when=[
        Requesting.request(
            {"path": HEARD, "body": {"callSid": sid, "heard": "speech", "text": text}}, {}
        )
    ],
    then=[PhoneCall.appendSpeech({"callSid": sid, "text": text})],
)

JudgeAnswer = Sync(
    "JudgeAnswer",
    doc="after the end-of-speech pause, the LLM (or the local rules) judges the answer so far",
    when=[
        Requesting.request({"path": HEARD, "body": {"pauseSeconds": pause}}, {}),
        PhoneCall.appendSpeech(
            {"callSid": sid},
            {
                "user": user,
                "session": session,
                "answerSoFar": answer,
                "promptIndex": index,
                "sessionPosition": at,
            },
        ),
    ],
    where=[
        *PROMPTS_OF_THE_SESSION,
        Let(question, prompt_text, "the prompt being answered"),
    ],
    then=[
        judge_the_answer_so_far(),
    ],
)

AnswerComplete = Sync(
    "AnswerComplete",
    when=[AnswerCheck.judge({"callSid": sid, "promptIndex": index}, {"verdict": "complete"})],
    then=[PhoneCall.finishAnswer({"callSid": sid, "promptIndex": index})],
)

KeepListening = Sync(
    "KeepListening",
    doc="not finished yet: listen on (with a gentle nudge if they had gone quiet)",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        AnswerCheck.judge({}, {"verdict": "incomplete", "nudge": nudge}),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: {"say": [NUDGE] if f["nudge"] else [], "listen": "answer"},
                    "listen on",
                ),
            }
        )
    ],
)

# -- a longer pause (streaming transport): judge the same words again -------------------------
# ConversationRelay reports the end of speech after a short pause, so that an answer the
# checker knows to be whole moves on at once. One judged incomplete there is judged again
# when the caller has stayed quiet as long as a <Gather> would wait: the local rules, which
# lean on the pause, then decide as they would on Gather. No silent turn is counted.

LongerPause = Sync(
    "LongerPause",
    when=[
        Requesting.request(
            {"path": HEARD, "body": {"callSid": sid, "heard": "pause", "pauseSeconds": pause}},
            {},
        )
    ],
    where=[
        PhoneCall._answerSoFar(
            {"callSid": sid},
            {
                "user": user,
                "session": session,
                "answerSoFar": answer,
                "promptIndex": index,
                "sessionPosition": at,
            },
        ),
        *PROMPTS_OF_THE_SESSION,
        Let(question, prompt_text, "the prompt being answered"),
    ],
    then=[
        judge_the_answer_so_far(),
    ],
)

NothingToJudgeAgain = Sync(
    "NothingToJudgeAgain",
    doc="no answer under way (nothing said yet, the rating question, a call that is over): "
    "listen on; the silence timer has the last word",
    when=[
        Requesting.request(
            {"path": HEARD, "body": {"callSid": sid, "heard": "pause"}}, {"request": request}
        )
    ],
    where=[Absent(PhoneCall._answerSoFar({"callSid": sid}, {}))],
    then=[Requesting.respond({"request": request, "output": {}})],
)

# -- silence: judge a partial answer, else ask once more, else move on -----------------------

SilenceHeard = Sync(
    "SilenceHeard",
    when=[Requesting.request({"path": HEARD, "body": {"callSid": sid, "heard": "silence"}}, {})],
    then=[PhoneCall.noteSilence({"callSid": sid})],
)

LongPauseAfterPartialAnswer = Sync(
    "LongPauseAfterPartialAnswer",
    doc="a long silence after some words suggests the speaker is done",
    when=[
        Requesting.request({"path": HEARD, "body": {"pauseSeconds": pause}}, {}),
        PhoneCall.noteSilence(
            {"callSid": sid},
            {
                "user": user,
                "session": session,
                "answerSoFar": answer,
                "promptIndex": index,
                "sessionPosition": at,
            },
        ),
    ],
    where=[
        Filter(lambda f: f["answer"] != "", "part of an answer was heard"),
        *PROMPTS_OF_THE_SESSION,
        Let(question, prompt_text, "the prompt being answered"),
    ],
    then=[
        judge_the_answer_so_far(after_silence=True),
    ],
)

AskAgainAfterFirstSilence = Sync(
    "AskAgainAfterFirstSilence",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.noteSilence(
            {"callSid": sid},
            {
                "user": user,
                "session": session,
                "answerSoFar": "",
                "silentTurns": 1,
                "promptIndex": index,
                "sessionPosition": at,
            },
        ),
    ],
    where=[*PROMPTS_OF_THE_SESSION],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: {"say": [TAKE_YOUR_TIME, prompt_text(f)], "listen": "answer"},
                    "the prompt again",
                ),
            }
        )
    ],
)

MoveOnAfterSecondSilence = Sync(
    "MoveOnAfterSecondSilence",
    doc="nothing heard twice: leave this answer empty and go on",
    when=[
        PhoneCall.noteSilence(
            {"callSid": sid}, {"answerSoFar": "", "silentTurns": turns, "promptIndex": index}
        )
    ],
    where=[Filter(lambda f: f["turns"] >= 2, "silent twice")],
    then=[PhoneCall.finishAnswer({"callSid": sid, "promptIndex": index})],
)

# -- an answer is finished: record it, then the next prompt, the rating, or goodbye ---------

RecordAnswer = Sync(
    "RecordAnswer",
    when=[
        PhoneCall.finishAnswer(
            {}, {"user": user, "session": session, "sessionPosition": position, "answer": answer}
        )
    ],
    then=[
        ReflectionSession.recordResponse(
            {"user": user, "session": session, "position": position, "text": answer}
        )
    ],
)

AskNextPrompt = Sync(
    "AskNextPrompt",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.finishAnswer(
            {},
            {
                "user": user,
                "session": session,
                "isLast": False,
                "nextIndex": index,
                "nextSessionPosition": at,
            },
        ),
    ],
    where=[ReflectionSession._session({"user": user, "session": session}, {"prompts": prompts})],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: {"say": next_prompt(f["index"], prompt_text(f)), "listen": "answer"},
                    "thanks + next prompt",
                ),
            }
        )
    ],
)

AskRating = Sync(
    "AskRating",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.finishAnswer({}, {"user": user, "isLast": True}),
    ],
    where=[Profile._getProfile({"user": user}, {"includeRating": True})],
    then=[
        Requesting.respond(
            {"request": request, "output": {"say": [RATING_QUESTION], "listen": "rating"}}
        )
    ],
)

SayGoodbye = Sync(
    "SayGoodbye",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.finishAnswer({"callSid": sid}, {"user": user, "isLast": True}),
    ],
    where=[Profile._getProfile({"user": user}, {"includeRating": False})],
    # goodbye first: the caller need not wait for the bookkeeping of a completed call
    # (the provider's report that the line hung up completes the call just as well if it wins)
    then=[
        Requesting.respond({"request": request, "output": {"say": [GOODBYE], "hangup": True}}),
        PhoneCall.markCompleted({"callSid": sid}),
    ],
)

RatingHeard = Sync(
    "RatingHeard",
    doc="only while the call is live: a replayed rating of a call that is over must not "
    "overwrite the rating set in the app since (this sync runs before GoodbyeAfterRating "
    "ends the call)",
    when=[Requesting.request({"path": RATING, "body": {"callSid": sid, "text": text}}, {})],
    where=[
        Let(rating, lambda f: parse_rating(f["text"]), "the rating heard"),
        Filter(lambda f: f["rating"] is not None, "a rating from -2 to 2 was heard"),
        PhoneCall._byCallSid(
            {"callSid": sid}, {"user": user, "session": session, "status": "IN_PROGRESS"}
        ),
    ],
    then=[ReflectionSession.setRating({"user": user, "session": session, "rating": rating})],
)

GoodbyeAfterRating = Sync(
    "GoodbyeAfterRating",
    when=[
        Requesting.request(
            {"path": RATING, "body": {"callSid": sid, "heard": heard}}, {"request": request}
        )
    ],
    where=[Filter(lambda f: f["heard"] != "key", "spoken or silent (a key is keypad.py's)")],
    then=[
        Requesting.respond({"request": request, "output": {"say": [GOODBYE], "hangup": True}}),
        PhoneCall.markCompleted({"callSid": sid}),
    ],
)

# -- a turn that cannot go on (unknown or finished call) --------------------------------------

TurnOnUnknownCall = Sync(
    "TurnOnUnknownCall",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.appendSpeech({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)

SilenceOnUnknownCall = Sync(
    "SilenceOnUnknownCall",
    when=[
        Requesting.request({"path": HEARD}, {"request": request}),
        PhoneCall.noteSilence({}, {"error": err}),
    ],
    then=[Requesting.respond({"request": request, "output": {"say": [SORRY], "hangup": True}})],
)
