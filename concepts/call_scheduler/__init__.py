"""CallScheduler: the queue of calls to place, with leases and retries.

- `states`: a scheduled call's states, outputs and view;
- `concept`: the concept, and the user's side of it (queue, call now, cancel);
- `attempts`: the worker's side (claim under a lease, report each attempt);
- `queries`: what it tells users, the worker and the reconciler.
"""

from .concept import CallScheduler
from .states import ACTIVE, ATTEMPTING, FIELD_NUMBER, TERMINAL

__all__ = ["ACTIVE", "ATTEMPTING", "FIELD_NUMBER", "TERMINAL", "CallScheduler"]
