"""PhoneCall: one phone conversation, keyed by the provider's id of the call (``callSid``).

Spec: docs/concepts/PhoneCall.md. A call walks INITIATED -> CONNECTED ->
IN_PROGRESS -> COMPLETED and may end early as ABANDONED, FAILED, NO_ANSWER,
BUSY, VOICEMAIL or CANCELLED from any non-terminal state; terminal states are final.
It knows no provider: the webhook edge (services/webhooks/) hands it neutral events
(who answered, how the line is doing), and the provider's id is opaque here.

"At most one active call per user" is a unique *sparse* index on ``activeUser``: the
field holds the user while the call is non-terminal and is ``$unset`` in the same
update that ends the call, so there is no separate lock to leak on a crash (partial
unique indexes are not portable to the embedded server; sparse ones are).

The spoken answer buffer, the answers and the transcript are encrypted at rest
with the per-user encryption adapter and marked private in the action log.

The modules are private to the concept: ``statuses`` (the statuses and the neutral
progress vocabulary), ``calls`` (the compare-and-set every change goes through),
``lifecycle``, ``conversation``, ``keypad`` and ``progress`` (the actions, by job), ``queries``,
``outputs`` and ``views`` (what actions return and queries show), ``concept`` (the class).
"""

from .calls import FIELD_ANSWER, FIELD_BUFFER, FIELD_TO, FIELD_TRANSCRIPT
from .concept import PhoneCall
from .statuses import ACTIVE, PROGRESS, TERMINAL

__all__ = [
    "ACTIVE",
    "FIELD_ANSWER",
    "FIELD_BUFFER",
    "FIELD_TO",
    "FIELD_TRANSCRIPT",
    "PROGRESS",
    "TERMINAL",
    "PhoneCall",
]
