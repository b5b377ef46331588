"""Password hashing at a test's cost, for the in-process harnesses.

Accounts hashes with argon2id at OWASP's minimum (about 50 ms a hash, 19 MiB), as it
must in production; a suite that signs up thousands of users would spend minutes on
it. The harnesses give their Accounts instance the same algorithm at the lowest cost;
the class keeps the production one (tests/concepts/test_accounts.py checks it), and the
end-to-end tests, real processes, hash at the production cost.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_cheaply(engine: Any) -> None:
    """Give this engine's Accounts the cheap hasher (an instance attribute)."""
    engine.concepts["Accounts"].hasher = CHEAP
