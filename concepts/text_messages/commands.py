"""What a text message reply asks for: the first word, read the way carriers read it.

Pure functions, so the words are tested over any input. STOP and START follow the
carriers' keywords (CTIA; Twilio's defaults), which must be honoured whatever follows
them; the others are this service's own.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Command = Literal["call", "later", "type", "stop", "start", "help", "unknown"]

# The carrier keywords (Twilio's default opt-out and opt-in words) and ours.
WORDS: dict[str, Command] = {
    **dict.fromkeys(
        ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"], "stop"
    ),
    **dict.fromkeys(["START", "UNSTOP", "YES", "SUBSCRIBE"], "start"),
    **dict.fromkeys(["HELP", "INFO"], "help"),
    **dict.fromkeys(["CALL", "RING", "NOW"], "call"),
    **dict.fromkeys(["LATER", "SNOOZE", "10"], "later"),
    **dict.fromkeys(["TYPE", "WRITE", "TEXT", "LINK"], "type"),
}
_FIRST = re.compile(r"[^\W_]+")


def command_of(text: str) -> Command:
    """The command a reply's first word names ("unknown" if none): "call me" is ``call``,
    "Stop." is ``stop``; case and full-width forms are folded first (accents are not:
    carriers read "ÉND" as no keyword either)."""
    folded = unicodedata.normalize("NFKC", text).upper()
    first = _FIRST.search(folded)
    return WORDS.get(first.group(0), "unknown") if first else "unknown"


def is_bare(text: str) -> bool:
    """Whether the text is one word and nothing else ("STOP", " stop. "): the only form a
    provider's own keyword handling (Twilio's STOP, START, HELP) acts on and answers."""
    return len(_FIRST.findall(unicodedata.normalize("NFKC", text))) == 1
