"""Each simulated call has a real recording, which the service streams to its owner only.

The simulator stands in for Twilio's recording: the conversation made audio (espeak-ng
where installed, else a generated murmur), kept in the server's memory. The reflection
keeps only the provider's URL, which never leaves the service: History says whether there
is a recording, and ``GET /api/recordings/{session}`` streams it, authenticated as the user.
"""

from __future__ import annotations

import asyncio
import io
import wave

from services.devtools.mock_recording import wav_duration_s
from tests.simulator.test_phone_simulator import ADA, ANSWERS, BOB, answer_every_prompt
from tests.simulator.world import World, until


async def a_completed_call_with_its_recording(world: World) -> tuple[str, str, str]:
    """Ada's call, answered to the end, once History says it has a recording:
    (token, session, sid)."""
    token = await world.sign_up(ADA)
    _, sid = await world.call_now(token)
    await world.until_call(token, sid, lambda c: c["phase"] == "ringing")
    await world.sim("POST", f"calls/{sid}/answer", token)
    await answer_every_prompt(world, token, sid, ANSWERS)
    (session,) = await until(
        lambda: world.api("ReflectionSession/_history", {}, token),
        lambda h: h and h[0]["hasRecording"],
        what="the recording to be attached",
    )
    return token, session["session"], sid


async def get(world: World, path: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await world.http.get(path, headers=headers)


async def test_the_service_streams_the_recording_of_a_simulated_call(world: World) -> None:
    token, session, _ = await a_completed_call_with_its_recording(world)
    history = await world.api("ReflectionSession/_history", {}, token)
    full = await world.api("ReflectionSession/_session", {"session": session}, token)
    # the provider's URL reaches no client: neither field nor value
    for answer in (history, full):
        assert "recordingUrl" not in answer[0]
        assert "twilio.com" not in str(answer) and "/Recordings/" not in str(answer)

    response = await get(world, f"/api/recordings/{session}", token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["cache-control"] == "private, no-store"
    assert int(response.headers["content-length"]) == len(response.content)
    with wave.open(io.BytesIO(response.content)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
    # the whole conversation: greeting, three prompts, three answers, goodbye
    assert wav_duration_s(response.content) > 8
    again = await get(world, f"/api/recordings/{session}", token)
    assert again.content == response.content  # made once, kept with the call


async def test_only_the_owner_gets_the_recording(world: World) -> None:
    token, session, _ = await a_completed_call_with_its_recording(world)
    bob = await world.sign_up(BOB, verify=False)
    refused = {
        "someone else": await get(world, f"/api/recordings/{session}", bob),
        "no token": await get(world, f"/api/recordings/{session}"),
        "a bad token": await get(world, f"/api/recordings/{session}", "not-a-token"),
        "no such reflection": await get(world, f"/api/recordings/{'0' * 32}", token),
        "not an id": await get(world, "/api/recordings/..%2F..%2Fetc", token),
    }
    statuses = {who: r.status_code for who, r in refused.items()}
    assert statuses == {
        "someone else": 404,
        "no token": 401,
        "a bad token": 401,
        "no such reflection": 404,
        "not an id": 404,
    }
    # someone else's reflection and one that does not exist read the same
    assert refused["someone else"].json()["error"] == refused["no such reflection"].json()["error"]
    assert all(r.headers["content-type"].startswith("application/json") for r in refused.values())


async def test_a_recording_the_server_no_longer_has_is_404(world: World) -> None:
    token, session, sid = await a_completed_call_with_its_recording(world)
    for _ in range(200):  # the player files the call as finished just after it ends
        if sid in world.simulator._finished:
            break
        await asyncio.sleep(0.05)
    world.simulator._finished.pop(sid)  # as after a restart: the audio lived in memory
    response = await get(world, f"/api/recordings/{session}", token)
    assert response.status_code == 404
    assert response.json()["error"] == "this recording is no longer available"
