"""Dialer: placing a call attempt exactly once, even across crashes and ambiguous failures.

- `concept`: the concept: take an attempt under a fencing token, then dial it once;
- `reconciling`: what became of an attempt whose outcome was never learned;
- `records`: an attempt's states and the outputs of the actions.
"""

from .concept import Dialer
from .records import FIELD_TO

__all__ = ["FIELD_TO", "Dialer"]
