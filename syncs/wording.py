"""What the voice says. Kept in one place so it can be read, reviewed and tested as text."""

from __future__ import annotations

import re

GOODBYE = "Thank you for reflecting with me today. Goodbye!"
RATING_QUESTION = (
    "Last question: how was your day, on a scale from minus two to plus two? "
    "Minus two is very hard, zero is okay, plus two is wonderful."
)
NUDGE = "Go on, I'm listening."
TAKE_YOUR_TIME = "Take your time."
SORRY = "Sorry, something went wrong on our side. We will call you again a little later. Goodbye."
KEYS_HELP = "Press 1 to skip, 0 to repeat, or 9 to finish."
RATING_KEYS_HELP = (
    "Press 1 to 5 to rate your day, from 1, very hard, to 5, wonderful. "
    "Press 0 to repeat, or 9 to finish."
)
TRANSITIONS = ["Thank you.", "Thanks for sharing that.", "Thank you. Next one."]


def greeting(name: str, first_prompt: str, recalled: str | None = None) -> list[str]:
    """Hello by name, what the user said last time if the greeting recalls it
    (syncs/follow_up.py), then the first prompt."""
    hello = f"Hi {name}. It's time for your daily reflection."
    return [hello, *([recalled] if recalled else []), first_prompt]


def next_prompt(position: int, prompt: str) -> list[str]:
    return [TRANSITIONS[position % len(TRANSITIONS)], prompt]


def call_script(
    name: str, prompts: list[str], include_rating: bool, recalled: str | None = None
) -> list[str]:
    """Everything a call asking all of ``prompts`` says when each is answered, in order.

    The web app reads it aloud (syncs/call_script.py), so it is made of what the call syncs
    say: ``greeting`` (answered.py, with the same ``recalled`` sentence), ``next_prompt`` at
    the index the call gives it (conversation.py, ``AskNextPrompt``), then
    ``RATING_QUESTION`` or straight ``GOODBYE``.
    """
    said = greeting(name, prompts[0], recalled)
    for index, prompt in enumerate(prompts[1:], start=1):
        said += next_prompt(index, prompt)
    return [*said, *([RATING_QUESTION] if include_rating else []), GOODBYE]


_NUMBERS = {"zero": 0, "none": 0, "okay": 0, "ok": 0, "one": 1, "two": 2, "to": 2, "too": 2}


def parse_rating(spoken: str) -> int | None:
    """A rating from -2 to 2 heard in speech ("minus two", "-1", "plus one", "zero"), or None."""
    text = spoken.lower().replace("\u2212", "-")  # a typographic minus sign
    digit = re.search(r"([+-]?)\s*([0-2])\b", text)
    if digit:
        value = int(digit.group(2))
        negative = (
            digit.group(1) == "-"
            or re.search(r"\b(minus|negative)\s*$", text[: digit.start()]) is not None
        )
        return -value if negative else value
    words = re.findall(r"[a-z]+", text)
    for i, word in enumerate(words):
        if word in _NUMBERS and word not in ("to", "too", "okay", "ok"):
            value = _NUMBERS[word]
            negative = i > 0 and words[i - 1] in ("minus", "negative")
            return -value if negative else value
    return None


#: The rating a key gives at the rating question: 1 is -2 (very hard) ... 5 is +2 (wonderful).
RATING_KEYS = {"1": -2, "2": -1, "3": 0, "4": 1, "5": 2}
