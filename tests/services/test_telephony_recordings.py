"""Fetching a call's recording through the telephony port: Twilio's adapter against the REST
stand-in (credentials, streaming, the stored URL trusted for its sid only), and the mock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from services.devtools.call_model import new_sid, recording_url
from services.devtools.standin.rest import RECORDINGS_MEDIA
from services.devtools.standin.twilio import TwilioRestStandIn
from services.telephony import TelephonyError
from services.telephony.mock import MockTelephony
from services.telephony.port import RecordingAudio
from services.telephony.twilio import TwilioTelephony
from services.telephony.twilio_recordings import CHUNK_BYTES, recording_sid_of

FROM = "+15550001111"


@pytest.fixture(scope="module")
def _server() -> Iterator[TwilioRestStandIn]:
    with TwilioRestStandIn() as server:
        yield server


@pytest.fixture
def standin(_server: TwilioRestStandIn) -> TwilioRestStandIn:
    _server.state.reset()
    return _server


def adapter(standin: TwilioRestStandIn, auth_token: str | None = None) -> TwilioTelephony:
    return TwilioTelephony(
        standin.account_sid,
        auth_token or standin.auth_token,
        FROM,
        api_base_url=standin.base_url,
        http_timeout_s=2,
    )


async def read(audio: RecordingAudio) -> list[bytes]:
    return [chunk async for chunk in audio.chunks]


def test_the_recording_is_fetched_with_the_account_credentials_and_streamed(
    standin: TwilioRestStandIn,
) -> None:
    sid = new_sid("RE")
    body = bytes(range(256)) * (CHUNK_BYTES // 256 * 3 + 7)  # a little over three chunks
    standin.state.recordings[sid] = ("audio/mpeg", body)

    async def fetch() -> tuple[RecordingAudio, list[bytes]]:
        audio = await adapter(standin).fetch_recording(recording_url(standin.account_sid, sid))
        return audio, await read(audio)

    audio, chunks = asyncio.run(fetch())
    assert (audio.content_type, audio.length) == ("audio/mpeg", len(body))
    assert len(chunks) >= 2 and b"".join(chunks) == body  # in pieces, in order, all of it
    (request,) = standin.state.requests_to(RECORDINGS_MEDIA)
    assert request.method == "GET"
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Recordings/{sid}.mp3"
    assert standin.state.authorized(request.authorization)


def test_only_the_recording_sid_of_a_stored_url_is_used(standin: TwilioRestStandIn) -> None:
    sid = new_sid("RE")
    standin.state.recordings[sid] = ("audio/mpeg", b"ID3 audio")
    # another host and another account: neither is asked, nor sent the credentials
    stored = f"https://recordings.evil.invalid/2010-04-01/Accounts/{new_sid('AC')}/Recordings/{sid}"

    async def fetch() -> list[bytes]:
        return await read(await adapter(standin).fetch_recording(stored))

    assert asyncio.run(fetch()) == [b"ID3 audio"]
    (request,) = standin.state.requests_to(RECORDINGS_MEDIA)
    assert request.path.startswith(f"/2010-04-01/Accounts/{standin.account_sid}/")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1",
        "https://example.test/recording.mp3",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE../../Calls",
    ],
)
def test_a_url_that_names_no_recording_is_refused_without_a_request(
    standin: TwilioRestStandIn, url: str
) -> None:
    with pytest.raises(TelephonyError) as caught:
        asyncio.run(adapter(standin).fetch_recording(url))
    assert (caught.value.code, caught.value.status) == (20404, 404)
    assert standin.state.requests_to(RECORDINGS_MEDIA) == []


def test_a_missing_recording_is_20404_and_bad_credentials_are_not(
    standin: TwilioRestStandIn,
) -> None:
    url = recording_url(standin.account_sid, new_sid("RE"))
    with pytest.raises(TelephonyError) as missing:
        asyncio.run(adapter(standin).fetch_recording(url))
    assert (missing.value.code, missing.value.status) == (20404, 404)
    with pytest.raises(TelephonyError) as refused:
        asyncio.run(adapter(standin, auth_token="wrong").fetch_recording(url))
    assert refused.value.status == 401 and refused.value.code != 20404


def test_recording_sid_of_takes_the_sid_with_or_without_an_extension() -> None:
    sid = new_sid("RE")
    base = recording_url("AC" + "0" * 32, sid)
    assert recording_sid_of(base) == recording_sid_of(base + ".wav") == sid


def test_the_mock_serves_given_recordings_then_asks_its_source() -> None:
    mock = MockTelephony()
    asked: list[str] = []

    async def source(url: str) -> tuple[str, bytes] | None:
        asked.append(url)
        return ("audio/wav", b"RIFF from the source") if url.endswith("/made") else None

    mock.recordings["https://r.test/given"] = ("audio/mpeg", b"x" * 100_000)

    async def fetch(url: str) -> tuple[RecordingAudio, bytes]:
        audio = await mock.fetch_recording(url)
        return audio, b"".join(await read(audio))

    audio, body = asyncio.run(fetch("https://r.test/given"))
    assert (audio.content_type, audio.length, body) == ("audio/mpeg", 100_000, b"x" * 100_000)
    with pytest.raises(TelephonyError) as caught:
        asyncio.run(fetch("https://r.test/made"))  # no source yet
    assert caught.value.code == 20404
    mock.recording_source = source
    assert asyncio.run(fetch("https://r.test/made"))[1] == b"RIFF from the source"
    with pytest.raises(TelephonyError):
        asyncio.run(fetch("https://r.test/unknown"))
    assert asked == ["https://r.test/made", "https://r.test/unknown"]
