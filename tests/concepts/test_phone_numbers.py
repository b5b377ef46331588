"""The concepts take exactly the numbers the telephony port's normaliser takes.

Profile and PhoneVerification take what a person typed: each accepts a text (at the HTTP
boundary and in the action) if and only if ``normalize_e164`` does, and keeps the number
it returns. CallScheduler takes numbers already normal: it accepts every one of them.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conceptkit import describe_operations
from concepts.call_scheduler import CallScheduler
from concepts.phone_verification import PhoneVerification
from concepts.profile import Profile
from services.app.clock import FakeClock
from services.encryption.keys import Encryptor
from services.telephony import normalize_e164
from services.telephony.mock import MockTelephony
from tests.concepts.loop_harness import Harness

TYPED = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[+\uff0b]?[0-9 ()\-.]{1,24}", fullmatch=True),
    st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)).map(
        lambda region: phonenumbers.format_number(
            phonenumbers.example_number(region) or phonenumbers.parse("+14155552671"),
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        )
    ),
)
EXAMPLES = ["+1 (415) 555-2671", "+431110", "+44 20 7946 0958"]
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    # one world for every example: each uses a user of its own (and moves the clock on)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _normal(text: str) -> str | None:
    try:
        return normalize_e164(text)
    except ValueError:
        return None


class World:
    """The three concepts on one database of their own, with a clock that moves on."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.name = f"numbers_{uuid.uuid4().hex[:12]}"
        db = harness.client[self.name]
        self.clock = FakeClock()
        enc = Encryptor([("k1", bytes(32))])
        phone = MockTelephony(seed=0, clock=self.clock.now)
        policy = SimpleNamespace(retry_delay_seconds=300)
        self.profile = Profile(db, {"clock": self.clock, "encryption": enc})
        self.verification = PhoneVerification(
            db, {"clock": self.clock, "telephony": phone, "encryption": enc}
        )
        self.scheduler = CallScheduler(
            db, {"clock": self.clock, "call_policy": policy, "encryption": enc}
        )
        for concept in (self.profile, self.verification, self.scheduler):
            harness.run(concept.setup())

    def accepts(self, concept: Any, action: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """The action's outputs if both the HTTP boundary and the action accept ``inputs``."""
        _, errors = describe_operations(concept)[action].check_inputs(inputs)
        if errors:
            return None
        out = self.harness.run(getattr(concept, action)(**inputs))
        return None if "error" in out else out

    def close(self) -> None:
        self.harness.run(self.harness.client.drop_database(self.name))


@pytest.fixture
def world(harness: Harness):
    w = World(harness)
    try:
        yield w
    finally:
        w.close()


def _user() -> str:
    return uuid.uuid4().hex


@PROPERTY
@given(text=TYPED)
@example(text=EXAMPLES[0])
@example(text=EXAMPLES[1])
def test_profile_accepts_what_the_normaliser_accepts_and_keeps_its_form(world, text):
    normal, user = _normal(text), _user()
    created = world.accepts(
        world.profile,
        "createProfile",
        {"user": user, "displayName": "Ada", "phoneNumber": text, "timezone": "Europe/London"},
    )
    assert (created is not None) == (normal is not None), (text, normal)
    if created is None:
        user = _user()
        seed = {"displayName": "Ada", "phoneNumber": "+14155552671", "timezone": "UTC"}
        assert world.accepts(world.profile, "createProfile", {"user": user, **seed})
    updated = world.accepts(world.profile, "updatePhoneNumber", {"user": user, "phoneNumber": text})
    assert (updated is not None) == (normal is not None), (text, normal)
    if normal is not None:
        assert updated == {"phoneNumber": normal}
        (row,) = world.harness.run(world.profile._getProfile(user=user))
        assert row["phoneNumber"] == normal


@PROPERTY
@given(text=TYPED)
@example(text=EXAMPLES[0])
@example(text=EXAMPLES[2])
def test_phone_verification_accepts_what_the_normaliser_accepts(world, text):
    normal = _normal(text)
    world.clock.advance(hours=2)  # past every throttle: only the number decides
    started = world.accepts(world.verification, "start", {"user": _user(), "phoneNumber": text})
    assert (started is not None) == (normal is not None), (text, normal)
    if started is not None:
        assert started == {"phoneNumber": normal}


@PROPERTY
@given(text=TYPED)
@example(text=EXAMPLES[1])
def test_call_scheduler_accepts_every_normal_number(world, text):
    normal = _normal(text)
    if normal is None:
        return
    inputs = {"user": _user(), "phoneNumber": normal, "scheduledFor": world.clock.now()}
    assert world.accepts(world.scheduler, "scheduleCall", inputs) is not None, normal
