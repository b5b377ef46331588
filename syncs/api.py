"""What the web app may call. Nothing else is reachable over HTTP.

Authenticated routes take the user from the session token; internal actions
(call state transitions, scheduler claims, dialling) are not listed, so they
have no route at all.
"""

from __future__ import annotations

from conceptkit import authenticated, concepts, public, requested

from .accounts import DELETE_ACCOUNT, DeleteAccountBody
from .breaks import SNOOZE, SnoozeBody
from .call_script import CALL_SCRIPT
from .export import EXPORT, ExportBody
from .history_calendar import CALENDAR, CalendarBody
from .password_reset import REQUEST_RESET, ResetBody
from .scheduling import CALL_NOW, NoBody
from .text_mode import START_TEXT

Accounts, Profile, PhoneVerification, Prompts, Schedule, ReflectionSession, CallScheduler = (
    concepts("Accounts Profile PhoneVerification Prompts Schedule ReflectionSession CallScheduler")
)
PhoneCall, TextMessages = concepts("PhoneCall TextMessages")

EXPOSURES = [
    # accounts
    public(Accounts.register),
    public(Accounts.login, client="client"),  # throttled per client (docs/concepts/Accounts.md)
    public(Accounts.logout),
    authenticated(Accounts.logoutEverywhere),
    authenticated(Accounts.changePassword),
    authenticated(Accounts._account),
    requested(
        REQUEST_RESET,
        body=ResetBody,
        auth=False,
        client=True,
        doc="Ask for a password reset code by text, to the account's verified phone. The "
        "answer is the same, and as quick, whether or not the account exists or has one; "
        "asking often (per address, per username) gets 429 with ``retryAfter``.",
    ),
    public(Accounts.resetPassword, client="client"),
    requested(
        DELETE_ACCOUNT,
        body=DeleteAccountBody,
        doc="Delete your account and everything kept for it (profile, prompts, schedule, "
        "calls, reflections), after checking your password. It cannot be undone.",
    ),
    requested(
        EXPORT,
        body=ExportBody,
        timeout_s=30,
        doc="Everything of your own: ``{format: json}`` answers one JSON document (account, "
        "profile, prompts, schedule, every reflection with its answers, rating, transcript "
        "and recording link); ``{format: markdown}`` answers ``{markdown}``, the same to read.",
    ),
    # profile
    authenticated(Profile.createProfile),
    authenticated(Profile.updateDisplayName),
    authenticated(Profile.updatePhoneNumber),
    authenticated(Profile.updateTimezone),
    authenticated(Profile.updateNamePronunciation),
    authenticated(Profile.updateRatingPreference),
    authenticated(Profile.updateMaxRetries),
    authenticated(Profile.updateFollowUp),  # the greeting recalls the follow-up answer
    authenticated(Profile._getProfile),
    # phone ownership
    authenticated(PhoneVerification.start),
    authenticated(PhoneVerification.confirm),
    authenticated(PhoneVerification._verifiedNumbers),
    authenticated(PhoneVerification._pendingNumber),
    # prompts
    authenticated(Prompts.setPrompts),
    authenticated(Prompts.movePrompt),
    authenticated(Prompts.markFollowUp),
    authenticated(
        Prompts._followUpPrompt,
        doc="Your follow-up prompt, whose last answer the call's greeting recalls when you "
        "switch it on: ``{position, text, marked}``; ``marked`` is false when you have not "
        "chosen one, so it is the last prompt.",
    ),
    authenticated(
        Prompts._prompts,
        doc="Your prompts in the order they are asked, one row per prompt: "
        "``{position, text}``. A new account starts with a default set.",
    ),
    # schedule
    authenticated(Schedule.setWeekly),
    authenticated(Schedule.setDaily),
    authenticated(Schedule.setTimezone),
    authenticated(Schedule.pause),
    authenticated(Schedule.resume),
    authenticated(Schedule.skipToday),
    authenticated(Schedule.unskipToday),
    authenticated(Schedule._skipped),
    authenticated(Schedule.allowOutsideWindow),
    authenticated(Schedule._schedule),
    authenticated(Schedule._nextCall),
    # calls
    requested(
        CALL_NOW,
        body=NoBody,
        doc="Call me now: queue a call to your verified number for a reflection straight "
        "away; answers ``{scheduledCall}``. Refused (409) while a call is already queued or "
        "under way, or before you have a profile and a verified phone number.",
    ),
    requested(
        SNOOZE,
        body=SnoozeBody,
        doc="Call me in N minutes (the web app asks for 10): the call waiting for you moves "
        "there, or one is queued for then, to your verified number; answers "
        "``{scheduledCall, at}``. Refused (409) while a call rings or is under way, or "
        "before you have a profile and a verified phone number.",
    ),
    requested(
        CALL_SCRIPT,
        body=NoBody,
        doc="What your call will say, for the web app to read aloud: ``{say: [text, ...]}``, "
        "the greeting by your name as the voice says it (then what you said last time to "
        "your follow-up prompt, if you switched that on) with the first prompt, each next "
        "prompt with the words said between them, the rating question if you asked for "
        "one, and goodbye. Refused (409) before you have a profile.",
    ),
    authenticated(CallScheduler.cancel),
    authenticated(CallScheduler._upcoming),
    authenticated(CallScheduler._recent),
    authenticated(CallScheduler._missed),
    authenticated(PhoneCall._activeForUser),  # ringing, on the call, finishing
    # texts after a missed day (syncs/texts.py): the account's choice, and the last one
    authenticated(TextMessages.setTexting),
    authenticated(TextMessages._texting),
    # reflections
    requested(
        START_TEXT,
        body=NoBody,
        doc="Answer today's prompts by typing instead of on the phone: starts a reflection "
        "(answers ``{session}``); then record each answer with "
        "``ReflectionSession/recordResponse`` and finish with ``completeSession``. Refused "
        "(409), with the reason, when a reflection cannot start now.",
    ),
    authenticated(ReflectionSession.recordResponse),
    authenticated(ReflectionSession.setRating),
    authenticated(ReflectionSession.completeSession),
    authenticated(ReflectionSession.abandonSession),
    authenticated(ReflectionSession.editAnswer),  # finished reflections; the original kept
    authenticated(ReflectionSession._history),
    authenticated(ReflectionSession._session),
    authenticated(ReflectionSession._active),
    # history by day: the calendar with its streaks, and the week's reflections in full
    requested(CALENDAR, body=CalendarBody),
    authenticated(ReflectionSession._between),
    authenticated(ReflectionSession._search),  # words and dates, decrypted only for the owner
]
