"""The phone-number normaliser of the telephony port (services/telephony/numbers.py)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.telephony import is_e164, normalize_e164

# -- normalize_e164, example by example -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("+1 (415) 555-2671", "+14155552671"),
        ("+14155552671", "+14155552671"),
        ("  +1.415.555.2671  ", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+44 7911 123456", "+447911123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+49 151 23456789", "+4915123456789"),
        ("+61 412 345 678", "+61412345678"),
        ("+81 3-1234-5678", "+81312345678"),
        ("\uff0b1 415 555 2671", "+14155552671"),  # full-width plus
    ],
)
def test_valid_numbers_normalise_to_e164(text, e164):
    assert normalize_e164(text) == e164


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [("020 7946 0958", "GB", "+442079460958"), ("(415) 555-2671", "US", "+14155552671")],
)
def test_national_numbers_need_a_default_region(text, region, e164):
    assert normalize_e164(text, region) == e164
    with pytest.raises(ValueError, match="international form"):
        normalize_e164(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+1", "does not look like a phone number|too short"),
        ("+0123456789", "country code"),
        ("abc", "international form"),
        ("", "enter a phone number"),
        ("   ", "enter a phone number"),
        ("+1415555267", "wrong length|not a valid"),  # one digit short
        ("+141555526710", "wrong length|not a valid|too long"),  # one digit long
        ("+1 415 555 2671 ext. 12", "extension"),
        ("+999 1234567", "country code"),
        ("+1 " + "5" * 70, "at most 64"),
        ("+12345", "wrong length|not a valid|too short"),
    ],
)
def test_invalid_numbers_raise_value_error_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        normalize_e164(text)


def test_non_text_raises_value_error():
    with pytest.raises(ValueError):
        normalize_e164(4155552671)  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=40), st.from_regex(r"\+[0-9 ()\-.]{1,20}", fullmatch=True)))
@example("+1 (415) 555-2671")
def test_normalize_only_ever_raises_value_error_and_round_trips(text):
    try:
        out = normalize_e164(text)
    except ValueError:
        return
    assert out.startswith("+")
    assert is_e164(out)
    assert normalize_e164(out) == out
    assert phonenumbers.is_valid_number(phonenumbers.parse(out))


@settings(max_examples=100)
@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_every_regions_example_number_round_trips(region):
    example_number = phonenumbers.example_number(region)
    if example_number is None or not phonenumbers.can_be_internationally_dialled(example_number):
        return  # e.g. KP: numbers this service could never dial from abroad are refused
    e164 = phonenumbers.format_number(example_number, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(
        example_number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    assert normalize_e164(international) == e164
    assert normalize_e164(e164) == e164


# -- properties ----------------------------------------------------------------------------

# What a person might type: any text, or something shaped like a number.
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


def _normal(text: str) -> str | None:
    try:
        return normalize_e164(text)
    except ValueError:
        return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TYPED)
def test_normalising_is_idempotent(text):
    once = _normal(text)
    if once is None:
        return
    assert normalize_e164(once) == once
    assert normalize_e164(f"  {once}  ") == once


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TYPED)
def test_every_normal_number_has_the_e164_shape(text):
    """Inputs typed with ``E164_PATTERN`` (numbers already normal) take every normal number."""
    out = _normal(text)
    if out is None:
        return
    assert out[0] == "+" and out[1] != "0" and out[1:].isascii() and out[1:].isdigit()
    assert 2 <= len(out) - 1 <= 15
    assert is_e164(out)


@pytest.mark.parametrize(
    ("text", "shaped"),
    [
        ("+14155552671", True),
        ("+431110", True),  # short, and valid: a Vienna number
        ("+1234567890123456", False),  # 16 digits
        ("+0123456", False),
        ("14155552671", False),
        ("+1 415 555 2671", False),  # the form only: normalise first
        ("+1\u0664\u0661\u0665", False),  # digits, but not ASCII ones
        (None, False),
    ],
)
def test_is_e164_checks_the_form(text, shaped):
    assert is_e164(text) is shaped
