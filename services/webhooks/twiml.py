"""TwiML documents for a spoken conversation, built with the library's `VoiceResponse`.

Pure functions returning XML strings, so escaping (`<`, `&` in user-provided names or
model output) is always the library's job, never string formatting.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from twilio.twiml.voice_response import Gather, VoiceResponse

__all__ = [
    "Pause",
    "Segment",
    "connect_relay",
    "empty_response",
    "hangup",
    "redirect",
    "say_and_gather",
    "say_and_hangup",
    "say_and_redirect",
]


@attrs.frozen
class Pause:
    """A silence between spoken texts, in whole seconds (TwiML `<Pause length>`)."""

    seconds: int = 1


Segment = str | Pause


def _speak(
    target: VoiceResponse | Gather,
    texts: Iterable[Segment],
    voice: str | None,
    language: str | None,
) -> None:
    for item in texts:
        if isinstance(item, Pause):
            target.pause(length=max(1, item.seconds))
        elif item.strip():
            target.say(item, voice=voice, language=language)


def say_and_gather(
    texts: Iterable[Segment],
    action_url: str,
    *,
    speech_timeout_s: int | str = 3,
    timeout_s: int = 6,
    voice: str | None = None,
    language: str | None = None,
) -> str:
    """Speak, then listen for a spoken answer, or one key, that Twilio POSTs to `action_url`.

    The texts are nested in `<Gather>` so the caller may start talking (or press a key)
    over them, and `actionOnEmptyResult` makes silence reach `action_url` too (otherwise
    Twilio would fall through to the end of the document and hang up). `speech_timeout_s`
    is the end-of-speech silence (seconds or "auto"); `timeout_s` the wait for speech to
    begin. A key ends the Gather at once (`numDigits="1"`), and `finishOnKey=""` makes `#`
    a key like the others (by default Twilio would swallow it as the end of the digits).
    """
    if not action_url:
        raise ValueError("action_url is required")
    response = VoiceResponse()
    gather = response.gather(
        input="speech dtmf",
        num_digits=1,
        finish_on_key="",
        action=action_url,
        method="POST",
        speech_timeout=speech_timeout_s,
        timeout=timeout_s,
        action_on_empty_result=True,
        language=language,
    )
    _speak(gather, texts, voice, language)
    return str(response.to_xml())


def say_and_hangup(
    texts: Iterable[Segment], *, voice: str | None = None, language: str | None = None
) -> str:
    """Speak a closing message, then end the call."""
    response = VoiceResponse()
    _speak(response, texts, voice, language)
    response.hangup()
    return str(response.to_xml())


def say_and_redirect(
    texts: Iterable[Segment], url: str, *, voice: str | None = None, language: str | None = None
) -> str:
    """Speak, then fetch the next TwiML from `url` (e.g. to poll for a slow reply)."""
    response = VoiceResponse()
    _speak(response, texts, voice, language)
    response.redirect(url, method="POST")
    return str(response.to_xml())


def redirect(url: str) -> str:
    """Continue the call with the TwiML at `url`."""
    return say_and_redirect([], url)


def hangup() -> str:
    """End the call now."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())


def empty_response() -> str:
    """`<Response/>`: the reply to status and recording callbacks."""
    return str(VoiceResponse().to_xml())


def connect_relay(
    greeting: str,
    socket_url: str,
    action_url: str,
    attributes: dict[str, str | bool],
    parameters: dict[str, str],
) -> str:
    """Hand the call to ConversationRelay: Twilio speaks ``greeting`` at once, then carries
    the conversation over the WebSocket at ``socket_url`` (each ``parameters`` item reaches
    it in the ``setup`` message); when the session ends it posts to ``action_url``."""
    response = VoiceResponse()
    connect = response.connect(action=action_url, method="POST")
    relay = connect.conversation_relay(url=socket_url, welcome_greeting=greeting, **attributes)
    for name, value in parameters.items():
        relay.parameter(name=name, value=value)
    return str(response.to_xml())
