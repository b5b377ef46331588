"""E.164 phone-number normalisation shared by the concepts (a plain helper, not a concept).

``normalize_e164`` turns whatever a person typed ("+1 (415) 555-2671") into the one
canonical form the rest of the system stores, compares and dials ("+14155552671"),
or raises ``ValueError`` with a message fit to show that person.
"""

from __future__ import annotations

import phonenumbers

__all__ = ["normalize_e164"]

# phonenumbers itself refuses inputs over 250 characters; a real number, however
# punctuated, is far shorter, so refuse early with a clear message.
MAX_INPUT_LENGTH = 64


def normalize_e164(text: str, default_region: str | None = None) -> str:
    """The E.164 form of ``text`` (e.g. "+14155552671"), or ``ValueError`` saying what is wrong.

    ``text`` must be in international form ("+" and country code) unless
    ``default_region`` (an ISO 3166 alpha-2 code such as "GB") says which country a
    national number belongs to. The number must be valid per libphonenumber's
    metadata (right length and prefix for its country), possible, internationally
    dialable, and carry no extension (we could not dial it). The result always
    matches ``^\\+[1-9]\\d{1,14}$`` and normalises to itself.
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
    if len(e164) > 16:  # E.164 allows at most 15 digits
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
