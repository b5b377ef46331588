"""Phone numbers as the telephony port knows them: E.164, read with phonenumbers.

A number is what the port dials and texts, so what counts as one is the port's rule,
kept here once, not in each concept that takes one:

- ``normalize_e164`` turns what a person typed ("+1 (415) 555-2671") into the one
  canonical form the rest of the system stores, compares and dials ("+14155552671"),
  or raises ``ValueError`` with a message fit to show that person (Profile and
  PhoneVerification take typed numbers through it);
- ``E164_PATTERN`` (and ``is_e164``) is the shape every normal number has, for inputs
  that take a number already normalised (CallScheduler, PhoneCall): it checks the form,
  not that the number exists, so every number ``normalize_e164`` returns fits it.

Pure functions, no adapter to swap: concepts import them from ``services.telephony``,
as they import the port's errors.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = ["E164_PATTERN", "MAX_INPUT_LENGTH", "is_e164", "normalize_e164"]

# ITU-T E.164: "+", a country code that does not start with 0, at most 15 digits in all.
E164_PATTERN = r"\+[1-9][0-9]{1,14}"
_E164 = re.compile(E164_PATTERN)
# phonenumbers itself refuses inputs over 250 characters; a real number, however
# punctuated, is far shorter, so refuse early with a clear message.
MAX_INPUT_LENGTH = 64


def is_e164(text: object) -> bool:
    """Whether ``text`` is already in E.164 form ("+14155552671"): the shape, not validity."""
    return isinstance(text, str) and _E164.fullmatch(text) is not None


def normalize_e164(text: str, default_region: str | None = None) -> str:
    """The E.164 form of ``text`` (e.g. "+14155552671"), or ``ValueError`` saying what is wrong.

    ``text`` must be in international form ("+" and country code) unless
    ``default_region`` (an ISO 3166 alpha-2 code such as "GB") says which country a
    national number belongs to. The number must be valid per libphonenumber's
    metadata (right length and prefix for its country), possible, internationally
    dialable, and carry no extension (we could not dial it). The result always
    satisfies ``is_e164`` and normalises to itself.
    """
    if not isinstance(text, str):
        raise ValueError("a phone number must be given as text")
    candidate = text.strip()
    if not candidate:
        raise ValueError("enter a phone number")
    if len(candidate) > MAX_INPUT_LENGTH:
        raise ValueError(f"a phone number is at most {MAX_INPUT_LENGTH} characters long")
    if default_region is None and not candidate.startswith(("+", "\uff0b")):
        raise ValueError(
            "enter the number in international form, starting with + and the country code"
        )
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_parse_message(exc)) from None
    if number.extension:
        raise ValueError("extensions cannot be dialled; enter the number without one")
    if not phonenumbers.is_possible_number(number):
        raise ValueError("that number has the wrong length for its country")
    if not phonenumbers.is_valid_number(number):
        raise ValueError("that is not a valid phone number")
    if not phonenumbers.can_be_internationally_dialled(number):
        raise ValueError("that number cannot be dialled from abroad")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not is_e164(e164):  # E.164 allows at most 15 digits
        raise ValueError("that number is longer than an international number can be")
    return e164


def _parse_message(exc: phonenumbers.NumberParseException) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return "unknown country code; enter the number starting with + and the country code"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_NSN:
        return "that phone number is too short"
    if kind == phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD:
        return "that phone number is too short"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "that phone number is too long"
    return "that does not look like a phone number"
