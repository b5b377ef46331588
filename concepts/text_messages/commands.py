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
#: Words that lead a reply without deciding it: "Yes, call me" asks for a call, and
#: "Please stop" is a STOP. Alone (all the words are these), the first one decides: a
#: bare "Yes" is the carriers' opt-in word, as the provider reads it too.
LEADING = frozenset({"YES", "YEAH", "YEP", "OK", "OKAY", "SURE", "PLEASE", "PLS"})
_WORD = re.compile(r"[^\W_]+")


def command_of(text: str) -> Command:
    """The command a reply's first word names ("unknown" if none): "call me" is ``call``,
    "Stop." is ``stop``; case and full-width forms are folded first (accents are not:
    carriers read "ÉND" as no keyword either). Leading words (``LEADING``) are passed
    over when another word follows them."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).upper())
    if not words:
        return "unknown"
    deciding = next((w for w in words if w not in LEADING), words[0])
    return WORDS.get(deciding, "unknown")


def is_bare(text: str) -> bool:
    """Whether the text is one word and nothing else ("STOP", " stop. "): the only form a
    provider's own keyword handling (Twilio's STOP, START, HELP) acts on and answers."""
    return len(_WORD.findall(unicodedata.normalize("NFKC", text))) == 1
