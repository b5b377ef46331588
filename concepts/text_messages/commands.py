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
#: After leading words, a reply that also says one of these is not read as asking for
#: anything ("OK, now is not a good time"; "don't" is DON and T): better the help
#: than a call no one wanted.
NEGATIONS = frozenset(
    {"NOT", "NO", "NEVER", "DON", "DONT", "ISN", "ISNT", "CAN", "CANT", "WON", "WONT", "T"}
)
_WORD = re.compile(r"[^\W_]+")


def command_of(text: str) -> Command:
    """The command a reply's first word names ("unknown" if none): "call me" is ``call``,
    "Stop." is ``stop``; case and full-width forms are folded first (accents are not:
    carriers read "ÉND" as no keyword either).

    Leading words (``LEADING``) are passed over when another word follows them. The
    word after them decides only if nothing after it says otherwise: another command
    word ("Yes, call me later") or a negation makes it ``unknown``. A STOP word there
    is a STOP whatever follows, as a first word is."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).upper())
    if not words:
        return "unknown"
    at = next((i for i, w in enumerate(words) if w not in LEADING), 0)
    command = WORDS.get(words[at], "unknown")
    if at == 0 or command == "stop":
        return command
    rest = words[at + 1 :]
    if any(w in WORDS or w in NEGATIONS for w in rest):
        return "unknown"
    return command


def is_bare(text: str) -> bool:
    """Whether the text is one word and nothing else ("STOP", " stop. "): the only form a
    provider's own keyword handling (Twilio's STOP, START, HELP) acts on and answers."""
    return len(_WORD.findall(unicodedata.normalize("NFKC", text))) == 1
