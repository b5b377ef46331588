"""Accounts: who may use the service, proven by a password, remembered by a session token.

- `concept`: the concept, its actions and queries;
- `throttle`: failed password attempts counted per key, with the backoff that slows a
  guesser without ever locking the owner out.
"""

from .concept import Accounts

__all__ = ["Accounts"]
