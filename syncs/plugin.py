"""The reflection service as a conceptkit plugin: its concepts, syncs, routes and adapters.

Registered through the ``conceptkit`` entry-point group (see pyproject.toml),
the same path a third-party plugin takes.
"""

from __future__ import annotations

from conceptkit import Authenticator, Sync, hookimpl
from concepts.accounts import Accounts
from concepts.answer_check import AnswerCheck
from concepts.call_scheduler import CallScheduler
from concepts.dialer import Dialer
from concepts.phone_call import PhoneCall
from concepts.phone_verification import PhoneVerification
from concepts.profile import Profile
from concepts.prompts import Prompts
from concepts.reflection_session import ReflectionSession
from concepts.schedule import Schedule
from concepts.text_messages import TextMessages
from services.app.adapters import conceptkit_services  # noqa: F401  (a hookimpl of this plugin)

from . import (
    accounts,
    answered,
    breaks,
    call_ended,
    call_progress,
    call_script,
    conversation,
    dialing,
    export,
    history_calendar,
    invariants,
    keypad,
    missed_call,
    password_reset,
    recordings,
    scheduling,
    text_mode,
    texts,
)
from .api import EXPOSURES

# One module per question, in the order their syncs are registered. Syncs that react to
# the same action fire in registration order (docs/conceptkit.md, "Firing order"), so
# this order is part of the behaviour where ORDER below says so: call_progress answers
# the provider before missed_call and call_ended do their bookkeeping of the same
# report, and missed_call queues a retry before call_ended may drop it.
SYNC_MODULES = [
    accounts,  # what an account gets, and what deleting it removes
    password_reset,  # where a password reset code goes
    scheduling,  # when a call is placed (schedule, "call me now", pause, cancel)
    breaks,  # skipping today, "call me in 10 minutes"
    dialing,  # how a due call is dialled exactly once
    answered,  # what happens when a person picks up
    conversation,  # how each prompt is answered, turn by turn
    keypad,  # what a key pressed during a call does
    call_progress,  # how the provider's reports of the line are applied
    missed_call,  # what happens when a call does not reach the user: the retries
    texts,  # the text after a missed day, and the replies to it
    call_ended,  # what an ended call leaves: the reflection, the scheduled call
    recordings,  # what is kept of a recording
    text_mode,  # answering by typing
    history_calendar,  # history by day: the calendar, its streaks, the week
    export,  # what a user takes away: everything of their own
    call_script,  # what a call will say, for the web app to read aloud
    invariants,  # what the reconciler repairs
]

#: Where the firing order matters: (fires first, then, why). ``all_syncs`` refuses a
#: registration order that breaks one; ``conceptkit syncs`` prints the order.
ORDER = [
    (
        "ResetAsked",
        "TextTheResetCode",
        "the reply to a reset request goes out before any text, so its timing tells nothing",
    ),
    ("ResetAskedTooOften", "TextTheResetCode", "the same"),
    (
        "HangUpBeforeDeletion",
        "DeleteEverything",
        "a call under way is ended while its documents still exist",
    ),
    (
        "ForgetAnswerChecksOfTheAccount",
        "DeleteEverything",
        "it reads the calls DeleteEverything deletes",
    ),
    ("RatingHeard", "GoodbyeAfterRating", "the rating is set while the call is live"),
    ("RateByKey", "GoodbyeAfterRatingKey", "the same, for a rating pressed on the keypad"),
    (
        "GoodbyeAfterEndingEarly",
        "CallEndedEarlyKeepsItsAnswers",
        "the caller hears goodbye before the bookkeeping of the call they ended",
    ),
    (
        "AcknowledgeStatus",
        "RetryMissedCall",
        "the provider is answered before the retry bookkeeping of its report",
    ),
    ("AcknowledgeStatus", "HungUpBeforeTheReflection", "the same"),
    ("AcknowledgeStatus", "CallerHungUp", "the same"),
    (
        "RetryMissedCall",
        "FailedCallKeepsItsAnswers",
        "a retry is queued before a completed reflection drops the user's pending calls",
    ),
    ("RetryAfterFailedStart", "FailedOnOurSideKeepsItsAnswers", "the same"),
]


class SyncOrderError(Exception):
    """The registration order breaks a declared firing order (``ORDER``)."""


def check_order(syncs: list[Sync], order: list[tuple[str, str, str]] = ORDER) -> None:
    """Raise SyncOrderError unless each ``(first, then, why)`` registers first before then."""
    position = {sync.name: i for i, sync in enumerate(syncs)}
    for first, then, why in order:
        if first not in position or then not in position:
            raise SyncOrderError(f"ORDER names an unknown sync: {first} or {then}")
        if position[first] > position[then]:
            raise SyncOrderError(f"{first} must be registered before {then}: {why}")


def all_syncs() -> list[Sync]:
    """Every Sync defined at the top level of the sync modules, in reading order."""
    syncs = [
        value
        for module in SYNC_MODULES
        for value in vars(module).values()
        if isinstance(value, Sync)
    ]
    check_order(syncs)
    return syncs


@hookimpl
def conceptkit_concepts():
    return [
        Accounts,
        Profile,
        PhoneVerification,
        Prompts,
        Schedule,
        ReflectionSession,
        PhoneCall,
        CallScheduler,
        Dialer,
        AnswerCheck,
        TextMessages,
    ]


@hookimpl
def conceptkit_syncs():
    return all_syncs()


@hookimpl
def conceptkit_invariants():
    return invariants.INVARIANTS


@hookimpl
def conceptkit_exposures():
    return EXPOSURES


@hookimpl
def conceptkit_authenticator():
    return Authenticator("Accounts", "_userForToken")
