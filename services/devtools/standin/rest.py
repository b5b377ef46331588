"""The Twilio stand-in's REST API: the slice of Twilio's REST API this service uses.

Lets tests run the real `twilio` library (through `TwilioTelephony(api_base_url=...)`)
against an HTTP server that records every request and can misbehave on demand.

  * `StandInState` - calls, messages, recorded requests, queued faults (thread-safe);
  * `build_app`    - the Starlette app serving the REST endpoints from a state.

`services.devtools.standin.twilio` serves them (`TwilioRestStandIn`), and plays the calls
created (`TwilioStandIn`).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.devtools.call_model import new_sid
from services.devtools.call_model import rfc2822 as call_rfc2822
from services.telephony import is_e164

API = "/2010-04-01/Accounts/{account_sid}"
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

# Endpoint names used for faults and for filtering recorded requests.
CALLS_CREATE = "calls.create"
CALLS_UPDATE = "calls.update"
CALLS_FETCH = "calls.fetch"
CALLS_LIST = "calls.list"
MESSAGES_CREATE = "messages.create"
MESSAGES_LIST = "messages.list"
RECORDINGS_MEDIA = "recordings.media"


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's timestamp format, e.g. 'Tue, 31 Aug 2010 20:36:28 +0000' (None stays None)."""
    return None if moment is None else call_rfc2822(moment)


@attrs.frozen
class RecordedRequest:
    endpoint: str
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]  # in order, repeated names kept
    authorization: str | None
    received_at: float  # time.monotonic()

    def form_values(self, name: str) -> list[str]:
        return [v for k, v in self.form if k == name]

    def form_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.form:
            out.setdefault(k, []).append(v)
        return out

    def query_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.query:
            out.setdefault(k, []).append(v)
        return out

    def basic_auth(self) -> tuple[str, str] | None:
        if not self.authorization or not self.authorization.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(self.authorization[6:]).decode().partition(":")
        return user, password


@attrs.frozen
class Fault:
    """How to misbehave on one request. `create_first`: apply the effect before failing."""

    status: int | None = None
    code: int | None = None
    message: str = ""
    delay_s: float = 0.0
    create_first: bool = False


def rate_limited() -> Fault:
    return Fault(status=429, code=20429, message="Too Many Requests")


def server_error() -> Fault:
    """Twilio created the resource, then answered 500: the classic ambiguous failure."""
    return Fault(status=500, code=20500, message="Internal Server Error", create_first=True)


def slow(delay_s: float) -> Fault:
    """Create the resource, then answer normally only after `delay_s` (client times out)."""
    return Fault(delay_s=delay_s, create_first=True)


def invalid_number() -> Fault:
    return Fault(status=400, code=21211, message="The 'To' number is not a valid phone number.")


def error(status: int, code: int, message: str) -> Fault:
    return Fault(status=status, code=code, message=message)


class StandInState:
    """Everything the stand-in knows; safe to read from the test thread while serving."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.lock = threading.Lock()
        self.calls: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, tuple[str, bytes]] = {}  # sid -> (media type, audio)
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()  # cuts fault delays short at shutdown
        self._faults: dict[str, list[Fault]] = {}

    def reset(self) -> None:
        """Forget calls, messages, requests and faults (to share one server across tests)."""
        with self.lock:
            self.calls.clear()
            self.messages.clear()
            self.recordings.clear()
            self.requests.clear()
            self._faults.clear()

    def fail_next(self, endpoint: str, fault: Fault, times: int = 1) -> None:
        with self.lock:
            self._faults.setdefault(endpoint, []).extend([fault] * times)

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            queue = self._faults.get(endpoint)
            return queue.pop(0) if queue else None

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def create_call(self, form: dict[str, list[str]]) -> dict[str, Any]:
        now = datetime.now(UTC)
        call = {
            "sid": new_sid("CA"),
            "account_sid": self.account_sid,
            "to": form["To"][0],
            "to_formatted": form["To"][0],
            "from": form.get("From", [""])[0],
            "from_formatted": form.get("From", [""])[0],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "answered_by": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "date_created": rfc2822(now),
            "date_updated": rfc2822(now),
            "start_time": None,  # Twilio leaves it empty until the call is dialled
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "subresource_uris": {},
        }
        call["uri"] = f"{API.format(account_sid=self.account_sid)}/Calls/{call['sid']}.json"
        with self.lock:
            self.calls[call["sid"]] = call
        return call

    def get_call(self, sid: str) -> dict[str, Any] | None:
        with self.lock:
            call = self.calls.get(sid)
            return None if call is None else dict(call)

    def set_call_status(self, sid: str, status: str) -> dict[str, Any]:
        """Move a call on, setting start/end times the way Twilio does."""
        now = rfc2822(datetime.now(UTC))
        with self.lock:
            call = self.calls[sid]
            call["status"] = status
            call["date_updated"] = now
            if status != "queued" and call["start_time"] is None:
                call["start_time"] = now
            if status in ENDED:
                call["end_time"] = now
            return dict(call)

    def create_message(self, form: dict[str, list[str]]) -> dict[str, Any]:
        now = datetime.now(UTC)
        message = {
            "sid": new_sid("SM"),
            "account_sid": self.account_sid,
            "to": form["To"][0],
            "from": form.get("From", [""])[0],
            "body": form.get("Body", [""])[0],
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": rfc2822(now),
            "date_updated": rfc2822(now),
            "date_sent": None,
            "api_version": "2010-04-01",
        }
        with self.lock:
            self.messages[message["sid"]] = message
        return message


def one_page(
    name: str, items: list[dict[str, Any]], request: Request, recorded: RecordedRequest
) -> JSONResponse:
    """A list resource's first (and only) page, newest first, in Twilio's envelope."""
    items = items[::-1]
    page_size = int(dict(recorded.query).get("PageSize", "50"))
    uri = f"{recorded.path}?{request.url.query}"
    return JSONResponse(
        {
            name: items[:page_size],
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "start": 0,
            "end": max(0, min(len(items), page_size) - 1),
            "uri": uri,
        }
    )


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """An error body in Twilio's legacy shape, which the library turns into TwilioRestException."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def _started_on_or_after(call: dict[str, Any], bound: str) -> bool:
    if call["start_time"] is None:
        return False
    started = datetime.strptime(call["start_time"], "%a, %d %b %Y %H:%M:%S %z")
    day_only = len(bound) == 10
    if day_only:
        return started.date().isoformat() >= bound
    return started >= datetime.fromisoformat(bound.replace("Z", "+00:00"))


def build_app(state: StandInState) -> Starlette:
    """The REST endpoints. Each records its request first, then applies any queued fault."""

    Effect = Callable[[Request, RecordedRequest], Response]

    async def pause(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not state.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.02))

    def endpoint(name: str, effect: Effect) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            body = (await request.body()).decode()
            recorded = RecordedRequest(
                endpoint=name,
                method=request.method,
                path=request.url.path,
                query=parse_qsl(request.url.query, keep_blank_values=True),
                form=parse_qsl(body, keep_blank_values=True),
                authorization=request.headers.get("authorization"),
                received_at=time.monotonic(),
            )
            state.record(recorded)
            if not state.authorized(recorded.authorization):
                return twilio_error(401, 20003, "Authenticate")
            if request.path_params["account_sid"] != state.account_sid:
                return twilio_error(404, 20404, "The requested resource was not found")
            fault = state.take_fault(name)
            if fault is not None and not fault.create_first:
                await pause(fault.delay_s)
                if fault.status is not None:
                    return twilio_error(fault.status, fault.code or fault.status, fault.message)
            response = effect(request, recorded)
            if fault is not None and fault.create_first:
                await pause(fault.delay_s)
                if fault.status is not None:
                    return twilio_error(fault.status, fault.code or fault.status, fault.message)
            return response

        return handle

    def invalid_to(recorded: RecordedRequest) -> JSONResponse | None:
        to = (recorded.form_values("To") or [""])[0]
        if is_e164(to):
            return None
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")

    def create_call(request: Request, recorded: RecordedRequest) -> JSONResponse:
        if (refusal := invalid_to(recorded)) is not None:
            return refusal
        return JSONResponse(state.create_call(recorded.form_dict()), status_code=201)

    def update_call(request: Request, recorded: RecordedRequest) -> JSONResponse:
        sid = request.path_params["sid"]
        call = state.get_call(sid)
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {recorded.path} was not found")
        status = (recorded.form_values("Status") or [None])[0]
        if status in {"completed", "canceled"}:
            if call["status"] in ENDED:
                return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
            ended = "completed" if call["status"] == "in-progress" else "canceled"
            call = state.set_call_status(sid, ended)
        return JSONResponse(call)

    def fetch_call(request: Request, recorded: RecordedRequest) -> JSONResponse:
        call = state.get_call(request.path_params["sid"])
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {recorded.path} was not found")
        return JSONResponse(call)

    def list_calls(request: Request, recorded: RecordedRequest) -> JSONResponse:
        query = dict(recorded.query)
        with state.lock:
            calls = [dict(c) for c in state.calls.values()]
        if "To" in query:
            calls = [c for c in calls if c["to"] == query["To"]]
        if "Status" in query:
            calls = [c for c in calls if c["status"] == query["Status"]]
        if "StartTime>" in query:  # the library's spelling of `StartTime>=`
            calls = [c for c in calls if _started_on_or_after(c, query["StartTime>"])]
        return one_page("calls", calls, request, recorded)

    def list_messages(request: Request, recorded: RecordedRequest) -> JSONResponse:
        query = dict(recorded.query)
        with state.lock:
            messages = [dict(m) for m in state.messages.values()]
        if "To" in query:
            messages = [m for m in messages if m["to"] == query["To"]]
        return one_page("messages", messages, request, recorded)

    def create_message(request: Request, recorded: RecordedRequest) -> JSONResponse:
        if (refusal := invalid_to(recorded)) is not None:
            return refusal
        return JSONResponse(state.create_message(recorded.form_dict()), status_code=201)

    def recording_media(request: Request, recorded: RecordedRequest) -> Response:
        with state.lock:
            found = state.recordings.get(request.path_params["sid"])
        if found is None:
            return twilio_error(404, 20404, f"The requested resource {recorded.path} was not found")
        media_type, audio = found
        return Response(audio, media_type=media_type)

    return Starlette(
        routes=[
            Route(f"{API}/Calls.json", endpoint(CALLS_CREATE, create_call), methods=["POST"]),
            Route(f"{API}/Calls.json", endpoint(CALLS_LIST, list_calls), methods=["GET"]),
            Route(
                f"{API}/Calls/{{sid}}.json", endpoint(CALLS_UPDATE, update_call), methods=["POST"]
            ),
            Route(f"{API}/Calls/{{sid}}.json", endpoint(CALLS_FETCH, fetch_call), methods=["GET"]),
            Route(
                f"{API}/Messages.json", endpoint(MESSAGES_CREATE, create_message), methods=["POST"]
            ),
            Route(f"{API}/Messages.json", endpoint(MESSAGES_LIST, list_messages), methods=["GET"]),
            Route(
                f"{API}/Recordings/{{sid}}.mp3",
                endpoint(RECORDINGS_MEDIA, recording_media),
                methods=["GET"],
            ),
        ]
    )
