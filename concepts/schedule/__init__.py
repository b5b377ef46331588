"""Schedule: when each user wants their reflection call, in their own time zone.

- `plan`: the pure core: a weekly plan of local times, the calling window, and
  `next_occurrence`, correct across daylight-saving changes;
- `concept`: the concept, which stores each user's plan and plans their next call.
"""

from .concept import Schedule, WeeklyTimes
from .plan import DAYS, SERVICE_DOWN, next_occurrence, outside_window, resolve_local

__all__ = [
    "DAYS",
    "SERVICE_DOWN",
    "Schedule",
    "WeeklyTimes",
    "next_occurrence",
    "outside_window",
    "resolve_local",
]
