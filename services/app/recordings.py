"""The recording of a phone reflection, streamed to its owner: ``GET /api/recordings/{session}``.

The provider keeps call recordings behind the account's credentials. The service fetches
one with its own (the telephony port's ``fetch_recording``) and streams it to the user
whose reflection it is, authenticated by their session token like the rest of the API, so
neither the provider's URL nor its credentials ever reach the browser. Someone else's
reflection, or one without a recording, is the same 404.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conceptkit import EngineError, bearer_token, error_response
from services.telephony.port import TelephonyError
from syncs import queries

__all__ = ["RECORDING_ROUTE", "recording_routes"]

log = logging.getLogger("services.app.recordings")

RECORDING_ROUTE = "/api/recordings/{session}"
_SESSION = re.compile(r"^[0-9a-f]{32}$")
NOT_FOUND = 20404
EXTENSIONS = {"audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav"}


def recording_routes(engine: Any, telephony: Any) -> list[Route]:
    """The recording route, over the engine (whose reflection, which URL) and the port."""

    async def recording(request: Request) -> Response:
        token = bearer_token(request)
        if token is None:
            return error_response(401, "log in first: send Authorization: Bearer <session token>")
        try:
            user = await queries.user_for_token(engine, token)
        except EngineError:
            user = None
        if user is None:
            return error_response(401, "your session has expired or was logged out; log in again")
        session = request.path_params["session"]
        url = None
        if _SESSION.match(session):
            url = await queries.recording_url_of(engine, user, session)
        if url is None:
            return error_response(404, "this reflection has no recording")
        try:
            audio = await telephony.fetch_recording(url)
        except TelephonyError as exc:
            if exc.code == NOT_FOUND or exc.status == 404:
                return error_response(404, "this recording is no longer available")
            log.warning("fetching the recording of %s failed: %s", session, exc)
            return error_response(502, "the phone provider did not send the recording")
        media_type = audio.content_type.split(";")[0].strip().lower()
        extension = EXTENSIONS.get(media_type, "audio")
        headers = {
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="reflection-{session}.{extension}"',
        }
        if audio.length is not None:
            headers["Content-Length"] = str(audio.length)
        return StreamingResponse(audio.chunks, media_type=audio.content_type, headers=headers)

    return [Route(RECORDING_ROUTE, recording, methods=["GET"], name="recording")]
