"""Whose simulator call or text message it is: the account the service sent it for.

Never the number dialled: numbers are typed by anyone into their own profile, shared
and reused, so matching them showed one user another's codes and let them decline
another's call. The Dialer and PhoneVerification hand the telephony port the account
(``user=``), `MockTelephony` records it and `SimulatorBridge` stores it as ``user``; a
document without one belongs to nobody (shown to no one, acted on by no one).
"""

from __future__ import annotations

from typing import Any

__all__ = ["INDEX", "call_of", "calls_of", "messages_of", "owner_of", "owns"]

#: Serves every per-user lookup below, newest first.
INDEX = [("kind", 1), ("user", 1), ("createdAt", -1)]


def owner_of(doc: dict[str, Any]) -> str | None:
    """The account a recorded call or SMS was sent for, if the service said."""
    user = doc.get("user")
    return user if isinstance(user, str) and user else None


def owns(doc: dict[str, Any], user: str) -> bool:
    """Whether `user` may see and act on `doc`: only its own account, never by number."""
    owner = owner_of(doc)
    return owner is not None and owner == user


def calls_of(user: str) -> dict[str, Any]:
    """The filter for `user`'s calls (every query and update on a call includes it)."""
    return {"kind": "call", "user": user}


def call_of(user: str, sid: str) -> dict[str, Any]:
    """The filter for one call of `user`'s: matches nothing for anyone else's sid."""
    return {"_id": sid, **calls_of(user)}


def messages_of(user: str) -> dict[str, Any]:
    """The filter for the text messages sent for `user`'s account."""
    return {"kind": "sms", "user": user}
