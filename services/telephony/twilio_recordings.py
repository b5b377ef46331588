"""Fetching a call's recording from Twilio, with the account's own credentials.

The recording callback reports a URL such as
``https://api.twilio.com/2010-04-01/Accounts/AC.../Recordings/RE...``. Only its recording
sid is taken from it: the media URL is rebuilt under this account and Twilio's API host
(or the configured stand-in), so the credentials are never sent to a host a stored URL
names. The audio is streamed in chunks (``requests`` with ``stream=True``, each read in a
thread), never held whole.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import requests

from services.telephony.port import RecordingAudio, TelephonyError

__all__ = ["CHUNK_BYTES", "RECORDING_NOT_FOUND", "TwilioRecordings", "recording_sid_of"]

RECORDING_NOT_FOUND = 20404
CHUNK_BYTES = 64 * 1024
API_VERSION = "2010-04-01"
_RECORDING_PATH = re.compile(r"/Recordings/(RE[0-9a-fA-F]{32})(?:\.(?:mp3|wav))?/?$")


def recording_sid_of(recording_url: str) -> str:
    """The recording sid in a recording URL; TelephonyError (20404) if there is none."""
    match = _RECORDING_PATH.search(urlsplit(recording_url).path)
    if match is None:
        raise TelephonyError("not a Twilio recording URL", code=RECORDING_NOT_FOUND, status=404)
    return match.group(1)


class TwilioRecordings:
    """``fetch_recording`` for `TwilioTelephony`: GET ``.../Recordings/<sid>.mp3``, streamed."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        rebase: Callable[[str], str],
        timeout_s: float,
        *,
        trust_env: bool = True,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._account_sid = account_sid
        self._rebase = rebase
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self._session.trust_env = trust_env

    def media_url(self, recording_url: str) -> str:
        sid = recording_sid_of(recording_url)
        return self._rebase(
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self._account_sid}/Recordings/{sid}.mp3"
        )

    async def fetch(self, recording_url: str) -> RecordingAudio:
        url = self.media_url(recording_url)

        def open_media() -> requests.Response:
            # Twilio may redirect to its media store; requests drops the credentials when
            # a redirect leaves the host.
            return self._session.get(url, auth=self._auth, stream=True, timeout=self._timeout_s)

        try:
            response = await asyncio.to_thread(open_media)
        except requests.RequestException as exc:
            raise TelephonyError(f"fetch_recording: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            response.close()
            if response.status_code == 404:
                raise TelephonyError(
                    "The recording was not found (deleted, or not this account's).",
                    code=RECORDING_NOT_FOUND,
                    status=404,
                )
            raise TelephonyError(
                f"fetch_recording: Twilio answered HTTP {response.status_code}",
                status=response.status_code,
            )
        length = response.headers.get("Content-Length", "")
        return RecordingAudio(
            content_type=response.headers.get("Content-Type", "audio/mpeg"),
            chunks=_chunks(response),
            length=int(length) if length.isdigit() else None,
        )


async def _chunks(response: requests.Response) -> AsyncIterator[bytes]:
    """The body in chunks, each read in a thread; the connection is released at the end."""
    pieces = response.iter_content(CHUNK_BYTES)
    try:
        while True:
            piece = await asyncio.to_thread(next, pieces, None)
            if piece is None:
                return
            if piece:
                yield piece
    finally:
        response.close()
