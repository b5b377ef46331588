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
from services.app.adapters import conceptkit_services  # noqa: F401  (a hookimpl of this plugin)

from . import (
    accounts,
    answered,
    conversation,
    dialing,
    invariants,
    outcomes,
    scheduling,
    text_mode,
)
from .api import EXPOSURES

SYNC_MODULES = [
    accounts,
    scheduling,
    dialing,
    answered,
    conversation,
    outcomes,
    text_mode,
    invariants,
]


def all_syncs() -> list[Sync]:
    """Every Sync defined at the top level of the sync modules, in reading order."""
    return [
        value
        for module in SYNC_MODULES
        for value in vars(module).values()
        if isinstance(value, Sync)
    ]


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
