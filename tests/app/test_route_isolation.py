"""No route lets one user read or change another user's data.

User A gets every kind of data the service keeps; user B then walks the whole
route table, read from the server's own OpenAPI document (so a route added
later, or contributed by a plugin, is walked too), aiming each request at A:

- phase 1: every field whose name looks like an id gets each of A's ids (read
  from A's documents in the database, so ids of internal records count too),
  every other field B's own plausible values; a body naming ``user`` is refused;
- phase 2: the fields a stranger could type anyway (phone number, username,
  password, display name, prompts, answers) get A's values, one at a time.

No response may contain anything of A's that B did not send itself (ids,
answers, phone numbers, prompts, names, the recording, the call's SID, the
token), and afterwards everything A can read through A's own query routes, and
every document in the database that names one of A's ids, is as it was.
Finally B deletes its own account, and A is still untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import httpx

from services.devtools.callees import ScriptedCallee
from tests.api_client import PASSWORD
from tests.app.conftest import Service

# --- A: distinctive values, so finding one in a response can only be a leak ----------

A_USERNAME = "zelda.quill"
A_NAME = "Zelda Quillfeather"
A_SAYS = "Zel-dah Kwill-feather"
A_PHONE = "+14155559101"
A_PHONE_PENDING = "+14155559102"  # a second number, its code sent but not confirmed
A_PROMPTS = [
    "What did Zelda plant in the orchard today?",
    "Which Quillfeather letter arrived this morning?",
    "What will Zelda mend on the gazebo tomorrow?",
]
A_ANSWERS = [
    "Tulips beside the marigold fence.",
    "A letter from Aunt Wilhelmina Quillfeather.",
    "The creaky hinge on the gazebo door.",
]
A_TYPED = "The grey heron came back to Zelda's pond."
A_EDITED = "Zelda mends the gazebo's creaky hinge with Wilhelmina."  # A's later correction
A_NOTE = "Zelda's private note about the heron"

# --- B: the other user -------------------------------------------------------------------

B_USERNAME = "bob.bystander"
B_PASSWORD = "bob's own long password"
B_NAME = "Bob Bystander"
B_PHONE = "+14155559201"
WRONG_PASSWORD = "not anybody's password"

DELETE_ACCOUNT = "/api/Account/delete"
EDIT_ANSWER = "/api/ReflectionSession/editAnswer"
CALENDAR = "/api/History/calendar"
DAYS_AROUND_NOW = (
    (dt.date.today() - dt.timedelta(days=30)).isoformat(),
    (dt.date.today() + dt.timedelta(days=2)).isoformat(),
)
_NOW = dt.datetime.now(dt.UTC)
# a period around now for the week's query, where A's reflections are
AROUND_NOW = {
    "since": (_NOW - dt.timedelta(days=7)).isoformat(),
    "until": (_NOW + dt.timedelta(days=2)).isoformat(),
}
ID_FIELD = re.compile(r"(session|call|sid|request|user|note|profile|before|token|ref|id)s?$", re.I)
ID_SHAPED = re.compile(r"^(?:[0-9a-f]{32}|[A-Z]{2}[0-9a-f]{32})$")
# The engine's own records (the action log and sync firings) name whatever B sent,
# A's ids included, by design: they are the audit trail, not A's data.
AUDIT_COLLECTIONS = ("conceptkit_",)


@attrs.define
class UserA:
    token: str
    user: str
    ids: list[str]  # every id of A's records, the user id first
    markers: dict[str, str]  # description -> a value of A's that must never leak
    code: str  # the code texted to A's pending number (not a marker: six digits are common)
    # the id of A's a field aims at first, by the field's name (the rest are tried too):
    # the records B could most easily damage, e.g. the reflection A is still typing
    targets: dict[str, str]


async def build_user_a(service: Service) -> UserA:
    token = await service.sign_up(
        A_USERNAME,
        phone=A_PHONE,
        displayName=A_NAME,
        namePronunciation=A_SAYS,
        timezone="America/New_York",
    )
    await service.api("Prompts/setPrompts", {"prompts": A_PROMPTS}, token)

    # a phone reflection, answered and recorded, then rated
    completed_call = await service.call_now(token)
    (placed,) = await service.dial_due()
    result = await service.play(placed, ScriptedCallee(A_ANSWERS))
    assert result.final_status == "completed", result.errors
    assert result.recording_url
    (phone_session,) = await service.api("ReflectionSession/_history", {}, token)
    assert phone_session["status"] == "COMPLETED" and phone_session["hasRecording"]
    assert [p["answer"] for p in phone_session["prompts"]] == A_ANSWERS
    await service.api(
        "ReflectionSession/setRating", {"session": phone_session["session"], "rating": 2}, token
    )
    # ...and its last answer corrected afterwards: the original is kept beside the edit
    edit = {"session": phone_session["session"], "position": 3, "text": A_EDITED}
    assert "editedAt" in await service.api("ReflectionSession/editAnswer", edit, token)

    # the greeting recalls the follow-up answer: the phone reflection's last, as edited
    await service.api("Profile/updateFollowUp", {"enabled": True}, token)
    assert await service.api("Prompts/markFollowUp", {"position": 3}, token) == {"position": 3}

    # a typed reflection in progress, one answer given
    text_session = (await service.api("Reflection/startText", {}, token))["session"]
    await service.api(
        "ReflectionSession/recordResponse",
        {"session": text_session, "position": 1, "text": A_TYPED},
        token,
    )

    # today skipped (a day the calendar shows as skipped)
    await service.api("Schedule/setTimezone", {"timezone": "America/New_York"}, token)
    assert "day" in await service.api("Schedule/skipToday", {}, token)

    # a "call me now" cancelled, then another one pending, snoozed for ten minutes
    cancelled_call = await service.call_now(token)
    await service.api("CallScheduler/cancel", {"scheduledCall": cancelled_call}, token)
    pending_call = await service.call_now(token)
    assert len({completed_call, cancelled_call, pending_call}) == 3
    snoozed = await service.api("Calls/snooze", {"minutes": 10}, token)
    assert snoozed["scheduledCall"] == pending_call

    # a daily schedule half a day away (so moving the clock a minute changes nothing),
    # which needs consent to calls outside 08:00-21:00 about half the time
    await service.api("Schedule/allowOutsideWindow", {"allowed": True}, token)
    local = service.clock.now().astimezone(zoneinfo.ZoneInfo("America/New_York"))
    at = (local + dt.timedelta(hours=12)).strftime("%H:%M")
    await service.api("Schedule/setDaily", {"timezone": "America/New_York", "time": at}, token)
    # ...paused for a holiday, calls starting again on their own in a month
    back = (local + dt.timedelta(days=30)).date().isoformat()
    await service.api("Schedule/pause", {"until": back}, token)

    # a code pending for a second number (codes to one user are 30 s apart)
    service.clock.advance(seconds=31)
    await service.api("PhoneVerification/start", {"phoneNumber": A_PHONE_PENDING}, token)
    (sms,) = [m for m in service.telephony.messages if m.to == A_PHONE_PENDING]
    code = re.search(r"\d{6}", sms.body).group(0)

    doc = (await service.http.get("/openapi.json")).json()
    if "/api/Notes/post" in doc["paths"]:  # the example plugin's notes, when installed
        await service.api("Notes/post", {"text": A_NOTE}, token)

    user = (await service.api("Accounts/_account", {}, token))[0]["user"]
    ids = await ids_of(service, user)
    for known in (phone_session["session"], text_session, completed_call, pending_call):
        assert known in ids, f"{known} not found among A's records"
    markers = {
        "token": token,
        "username": A_USERNAME,
        "display name": A_NAME,
        "name pronunciation": A_SAYS,
        "phone number": A_PHONE,
        "pending phone number": A_PHONE_PENDING,
        "typed answer": A_TYPED,
        "edited answer": A_EDITED,
        "note": A_NOTE,
        "recording URL": result.recording_url,
        **{f"prompt {i}": p for i, p in enumerate(A_PROMPTS, 1)},
        **{f"answer {i}": a for i, a in enumerate(A_ANSWERS, 1)},
        **{f"id {i}": x for i, x in enumerate(ids)},
    }
    targets = {
        "session": text_session,
        "before": phone_session["session"],
        "scheduledCall": pending_call,
    }
    return UserA(token, user, ids, markers, code, targets)


async def documents_naming(service: Service, ids: list[str]) -> dict[tuple[str, str], dict]:
    """Every document (outside the audit log) that contains one of ``ids``."""
    db = service.engine.db
    found: dict[tuple[str, str], dict] = {}
    for name in sorted(await db.list_collection_names()):
        if name.startswith(AUDIT_COLLECTIONS):
            continue
        async for doc in db[name].find({}):
            text = repr(doc)
            if any(x in text for x in ids):
                found[(name, str(doc["_id"]))] = doc
    return found


async def ids_of(service: Service, user: str) -> list[str]:
    """A's ids: the user id, then every id held in A's documents (two hops: a call's
    judgements name its SID, not the user)."""
    ids = [user]
    for _ in range(2):
        for (_, key), doc in (await documents_naming(service, ids)).items():
            for value in [key, *_strings(doc)]:
                if (value == key or ID_SHAPED.match(value)) and value not in ids:
                    ids.append(value)
    return ids


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


async def db_snapshot(service: Service, a: UserA) -> dict[tuple[str, str], dict]:
    docs = await documents_naming(service, a.ids)
    # Anyone may ask for a reset code for any username: A is texted a new one, which
    # replaces A's pending code (throttled per username; docs/concepts/Accounts.md).
    docs = {key: doc for key, doc in docs.items() if key[0] != "Accounts_resets"}
    for (name, _), doc in docs.items():
        if name == "Accounts_users":
            # Wrong passwords for A's username count toward A's lock: anyone may try to
            # log in as anyone, and the lockout is documented (Accounts.md).
            doc.pop("failedLogins", None)
            doc.pop("lockedUntil", None)
    return docs


# --- the route table ----------------------------------------------------------------------


def is_query(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("_")


def body_schema(op: dict[str, Any]) -> dict[str, Any]:
    return op["requestBody"]["content"]["application/json"]["schema"]


def fallback_value(schema: dict[str, Any]) -> Any:
    """A value of the schema's type, for a field no hint below knows."""
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return fallback_value(options[0]) if options else None
    kind = schema.get("type")
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1.0)
    if kind == "boolean":
        return True
    if kind == "array":
        return [fallback_value(schema.get("items", {}))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: fallback_value(props[k]) for k in schema.get("required", [])}
    if schema.get("format") == "date-time":
        return dt.datetime.now(dt.UTC).isoformat()
    return "x" * max(1, schema.get("minLength", 1))


@attrs.define
class Walker:
    service: Service
    a: UserA
    b_token: str
    stored: dict[tuple[str, str], dict]  # A's documents before the walk
    b_password: str = B_PASSWORD
    leaks: list[str] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)
    past_validation: set[str] = attrs.Factory(set)
    sent: set[str] = attrs.Factory(set)  # A's values B has typed in (phase 2)
    calls: int = 0
    statuses: Counter[tuple[str, int]] = attrs.Factory(Counter)

    def b_values(self, path: str, name: str, schema: dict[str, Any]) -> list[Any]:
        """B's own plausible values for a field (phase 1)."""
        if name in ("password", "currentPassword"):
            # Account deletion with B's right password ends B: that runs last, on its own.
            return [WRONG_PASSWORD] if path == DELETE_ACCOUNT else [self.b_password]
        hints: dict[str, list[Any]] = {
            "newPassword": [self.b_password],  # the same: B's token rotates, not its password
            "username": [B_USERNAME, "carol.newcomer"],
            "token": [self.b_token],  # B's own session: logging it out is B's business
            "phoneNumber": [B_PHONE],
            "displayName": [B_NAME],
            "namePronunciation": ["Bobby", None],
            "timezone": ["Europe/Paris"],
            "time": ["12:00"],
            "times": [{"mon": "12:00", "tue": None}],
            "allowed": [True, False],
            "includeRating": [True],
            "maxRetries": [3],
            "enabled": [True, False],  # the follow-up greeting, B's own
            "code": ["000000"],
            "prompts": [["Did Bob sleep well?", "What did Bob eat?"]],
            "fromPosition": [2],
            "toPosition": [1],
            "position": [1, 2],
            "rating": [1],
            "reason": ["Bob changed his mind"],
            "text": ["Bob's own words"],
            "limit": [100],
            "after": [None],
            "startedAt": [None],
            # history by day: a range around now, where A's reflections and calls are
            "start": [DAYS_AROUND_NOW[0]],
            "end": [DAYS_AROUND_NOW[1]],
            "since": [AROUND_NOW["since"]],
            # ...and a pause's end date (Schedule.pause): a local date, or none
            "until": [
                AROUND_NOW["until"],
                None,
                (self.service.clock.now() + dt.timedelta(days=30)).date().isoformat(),
            ],
            "minutes": [10],
            "words": ["Bob's own words", ""],  # "": every reflection (B's own)
            "format": ["json", "markdown"],  # the export: B's own, never A's
        }
        return hints.get(name, [fallback_value(schema)])

    def a_values(self, name: str) -> list[Any]:
        """What a stranger could type of A's without having seen A's data (phase 2)."""
        hints: dict[str, list[Any]] = {
            "password": [PASSWORD],
            "currentPassword": [PASSWORD],
            "username": [A_USERNAME],
            "phoneNumber": [A_PHONE, A_PHONE_PENDING],
            "displayName": [A_NAME],
            "namePronunciation": [A_SAYS],
            "prompts": [A_PROMPTS],
            "text": [A_TYPED],
            "code": [self.a.code],  # as if B had read A's text message
            "words": [A_ANSWERS[0], A_TYPED, "Zelda Quillfeather"],  # searching for A's words
        }
        return hints.get(name, [])

    def bodies(self, path: str, op: dict[str, Any], phase: int) -> Iterator[dict[str, Any]]:
        schema = body_schema(op)
        props: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])

        def first(name: str) -> Any:
            if ID_FIELD.search(name) and name != "token":
                return self.a.targets.get(name, self.a.user)
            return self.b_values(path, name, props[name])[0]

        base = {name: first(name) for name in required}
        seen: set[str] = set()

        def once(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
            key = json.dumps(body, sort_keys=True)
            if key not in seen:
                seen.add(key)
                yield body

        if phase == 1:
            yield from once(base)
            yield from once({**base, **{n: first(n) for n in props}})
            for name, field in props.items():
                if ID_FIELD.search(name):
                    values = [*self.a.ids]
                    if name == "token":
                        # A's session token is a credential, not an id B could learn;
                        # A's ids (not tokens) are tried, and B's own token.
                        values.append(self.b_token)
                else:
                    values = self.b_values(path, name, field)
                for value in values:
                    yield from once({**base, name: value})
        else:
            for name in props:
                for value in self.a_values(name):
                    yield from once({**base, name: value})

    async def send(self, path: str, body: dict[str, Any], authenticated: bool) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.b_token}"} if authenticated else {}
        self.calls += 1
        return await self.service.http.post(path, json=body, headers=headers)

    def check_leaks(self, path: str, body: dict[str, Any], r: httpx.Response) -> None:
        sent = json.dumps(body, ensure_ascii=False)
        for what, value in self.a.markers.items():
            if value in r.text and value not in sent and value not in self.sent:
                self.leaks.append(f"{path} {body} -> {r.status_code}: A's {what} {value!r}")

    async def ensure_logged_in(self) -> None:
        """B logging out (or rotating its token) is fine; B then logs in again."""
        r = await self.send("/api/Accounts/_account", {}, True)
        if r.status_code == 401:
            r = await self.send(
                "/api/Accounts/login", {"username": B_USERNAME, "password": self.b_password}, False
            )
            assert r.status_code == 200, f"B cannot log in again: {r.status_code} {r.text}"
            self.b_token = r.json()["token"]

    async def walk(self, paths: dict[str, Any], phase: int) -> None:
        for path, item in paths.items():
            op = item["post"]
            authenticated = bool(op["security"])
            for body in self.bodies(path, op, phase):
                await self.call(path, body, authenticated, phase)
            if phase == 1:
                await self.user_in_body_is_refused(path, op, authenticated)
            if not is_query(path):
                # after every route, not only at the end: a later request could undo a change
                await self.check_a_unchanged(f"phase {phase} {path}")

    async def check_a_unchanged(self, after: str) -> None:
        now = await db_snapshot(self.service, self.a)
        for key in sorted(now.keys() | self.stored.keys()):
            if now.get(key) != self.stored.get(key):
                was = self.stored.get(key)
                self.problems.append(f"after {after}: A's {key} was {was}, is {now.get(key)}")
        self.stored = now  # report each change once, where it happened

    async def call(self, path: str, body: dict[str, Any], authenticated: bool, phase: int) -> None:
        r = await self.send(path, body, authenticated)
        self.statuses[(path, r.status_code)] += 1
        self.check_leaks(path, body, r)
        data = r.json()
        if phase == 2:
            typed = json.dumps(body, ensure_ascii=False)
            self.sent.update(v for v in self.a.markers.values() if v in typed)
        if not (r.status_code == 422 and "detail" in data):
            self.past_validation.add(path)
        if authenticated and r.status_code == 401 and "errorKind" not in data:
            self.problems.append(f"{path} {body}: B's session was refused: {r.text}")
        if r.status_code == 429 and "errorKind" in data and "failed attempts" in data["error"]:
            self.problems.append(f"{path} {body}: B got locked out; the walk must try fewer")
        names_a = any(
            ID_FIELD.search(k) and v in self.a.ids for k, v in body.items() if isinstance(v, str)
        )
        if names_a and not is_query(path) and r.status_code == 200:
            self.problems.append(f"{path} {body}: acted on A's id: 200 {r.text}")
        if r.status_code == 200 and isinstance(data, dict) and "token" in data:
            self.b_token = data["token"]  # B changed its password: a fresh session
        if r.status_code == 500:
            self.problems.append(f"{path} {body}: 500 {r.text}")
        if not is_query(path):
            await self.ensure_logged_in()

    async def user_in_body_is_refused(
        self, path: str, op: dict[str, Any], authenticated: bool
    ) -> None:
        """The user comes from the session: a body naming one (A's) is refused, always."""
        base = next(self.bodies(path, op, 1))
        for token in (self.b_token, None) if authenticated else (None,):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await self.service.http.post(
                path, json={**base, "user": self.a.user}, headers=headers
            )
            self.calls += 1
            locs = [d.get("loc") for d in r.json().get("detail", [])]
            if r.status_code != 422 or ["body", "user"] not in locs:
                self.problems.append(f"{path}: a body naming user got {r.status_code} {r.text}")
            self.check_leaks(path, base, r)


RECORDING_ROUTE = "/api/recordings/{session}"


def mounted_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, mounts included."""
    for route in routes:
        path = prefix + getattr(route, "path", "")
        if getattr(route, "routes", None):
            yield from mounted_routes(route.routes, path)
        else:
            yield path, set(getattr(route, "methods", None) or ())


async def the_rest_of_the_app(walker: Walker, a: UserA, api_paths: set[str]) -> list[str]:
    """Routes outside the OpenAPI document: the Twilio webhooks (POST) answer only a valid
    Twilio signature, whatever session B holds; the web pages (GET) are the same static
    files for everyone. B tries each with A's ids; none may show anything of A's."""
    service = walker.service
    auth = {"Authorization": f"Bearer {walker.b_token}"}
    visited = []
    for path, methods in sorted(mounted_routes(service.app.routes)):
        if path == RECORDING_ROUTE:  # GET, outside OpenAPI: audio, not JSON
            for x in a.ids:
                r = await service.http.get(f"/api/recordings/{x}", headers=auth)
                walker.check_leaks(path, {"session": x}, r)
                if r.status_code != 404:
                    walker.problems.append(f"B fetched A's recording {x}: {r.status_code}")
            visited.append(path)
            continue
        if path.startswith("/api/"):
            assert path in api_paths, f"{path} is served but not in /openapi.json: not walked"
            continue
        if "{" in path:
            # /static/{path}: the web app's own files, the same for everyone; a page is
            # fetched below, and its scripts only call the API walked above
            assert path.startswith("/static/"), f"{path}: a parametrised route to walk"
            continue
        if "POST" in methods:
            for x in a.ids:
                form = {"CallSid": x, "AccountSid": x, "RecordingSid": x, "SpeechResult": "hi"}
                r = await service.http.post(path, data=form, headers=auth)
                walker.check_leaks(path, form, r)
                if r.status_code != 403:
                    walker.problems.append(f"{path} unsigned, CallSid {x}: {r.status_code}")
        if "GET" in methods:
            r = await service.http.get(path, headers=auth)
            walker.check_leaks(path, {}, r)
        visited.append(path)
    return visited


async def a_can_read(service: Service, paths: dict[str, Any], a: UserA) -> dict[str, Any]:
    """Everything A's own query routes show A (each id-taking query with each of A's ids)."""
    seen: dict[str, Any] = {}
    for path, item in paths.items():
        op = item["post"]
        if not is_query(path) or not op["security"]:
            continue
        schema = body_schema(op)
        required = schema.get("required", [])
        bodies: list[dict[str, Any]] = [{}]
        for name in required:
            field = schema["properties"][name]
            values = a.ids if ID_FIELD.search(name) else [fallback_value(field)]
            if name in AROUND_NOW:
                values = [AROUND_NOW[name]]
            bodies = [{**b, name: v} for b in bodies for v in values]
        for body in bodies:
            r = await service.http.post(
                path, json=body, headers={"Authorization": f"Bearer {a.token}"}
            )
            assert r.status_code == 200, f"A reading {path} {body}: {r.status_code} {r.text}"
            seen[f"{path} {json.dumps(body, sort_keys=True)}"] = r.json()
    return seen


async def history_by_day(service: Service, token: str) -> dict[str, Any]:
    """What the calendar and the week pages read, over days around now (A's activity)."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"start": DAYS_AROUND_NOW[0], "end": DAYS_AROUND_NOW[1]}
    cal = await service.http.post(CALENDAR, json=body, headers=headers)
    week = await service.http.post(
        "/api/ReflectionSession/_between", json=AROUND_NOW, headers=headers
    )
    assert cal.status_code == 200 and week.status_code == 200, (cal.text, week.text)
    return {"calendar": cal.json(), "week": week.json()}


async def test_no_route_lets_another_user_read_or_change_anything(service: Service):
    a = await build_user_a(service)
    await service.api("Accounts/register", {"username": B_USERNAME, "password": B_PASSWORD})
    login = {"username": B_USERNAME, "password": B_PASSWORD}
    b_token = (await service.api("Accounts/login", login))["token"]
    await service.api(
        "Profile/createProfile",
        {"displayName": B_NAME, "phoneNumber": B_PHONE, "timezone": "Europe/Paris"},
        b_token,
    )
    await service.verify_phone(b_token, B_PHONE)

    doc = (await service.http.get("/openapi.json")).json()
    paths: dict[str, Any] = doc["paths"]
    assert DELETE_ACCOUNT in paths and len(paths) >= 40, sorted(paths)
    issue16 = (
        "/api/ReflectionSession/_search",
        "/api/Account/export",
        EDIT_ANSWER,
        "/api/Calls/script",
        "/api/TextMessages/setTexting",
        "/api/TextMessages/_texting",
        "/api/Profile/updateFollowUp",
        "/api/Prompts/markFollowUp",
        "/api/Prompts/_followUpPrompt",
    )
    for path in issue16:
        assert path in paths, path
    openapi_text = json.dumps(doc, ensure_ascii=False)
    assert not [w for w, v in a.markers.items() if v in openapi_text]

    readable = await a_can_read(service, paths, a)
    assert any(A_ANSWERS[0] in json.dumps(v) for v in readable.values()), "A's answers readable"
    a_days = await history_by_day(service, a.token)
    assert a_days["calendar"]["longestStreak"] == 1 and len(a_days["week"]) == 2, a_days
    (a_day,) = [d for d in a_days["calendar"]["days"] if d["sessions"]]
    assert a_day["state"] == "done" and a_day["rating"] == 2, a_day
    b_days = await history_by_day(service, b_token)
    assert b_days["calendar"]["longestStreak"] == 0 and b_days["week"] == [], b_days
    assert not [d for d in b_days["calendar"]["days"] if d["sessions"] or d["missed"]]
    own = await service.api("Account/export", {"format": "json"}, a.token)  # what B must not get
    (a_phone,) = [r for r in own["reflections"] if r["method"] == "PHONE"]
    assert (a_phone["prompts"][2]["answer"], a_phone["prompts"][2]["original"]) == (
        A_EDITED,
        A_ANSWERS[2],
    )
    assert A_ANSWERS[0] in json.dumps(own) and A_TYPED in json.dumps(own)
    a_script = (await service.api("Calls/script", {}, a.token))["say"]  # A's call, A's name
    assert a_script[0].startswith(f"Hi {A_SAYS}.") and A_PROMPTS[2] in a_script, a_script
    assert a_script[1].endswith(f"you said: {A_EDITED}"), a_script  # A's follow-up recalled
    stored = await db_snapshot(service, a)

    walker = Walker(service, a, b_token, stored)
    # Codes go to one user, and to one number, at most every 30 s: moving the clock on
    # lets B have a code of its own pending (phase 1), and lets B's attempt to have one
    # sent to A's number (phase 2) reach the number. A's schedule is hours away.
    service.clock.advance(seconds=31)
    await walker.walk(paths, phase=1)
    service.clock.advance(seconds=31)
    await walker.walk(paths, phase=2)
    others = await the_rest_of_the_app(walker, a, set(paths))
    # B aiming an edit at A's finished reflection, every position: not found, as for an id
    # that does not exist (the walk above tried every id of A's; this is the one that matters)
    for position in range(1, len(A_PROMPTS) + 1):
        body = {"session": a_phone["session"], "position": position, "text": "Bob was here"}
        r = await walker.send(EDIT_ANSWER, body, True)
        walker.check_leaks(EDIT_ANSWER, body, r)
        assert (r.status_code, r.json()["errorKind"]) == (404, "not_found"), r.text
    # B asking the very prompts A answered, with the follow-up on: B's call recalls nothing
    login = {"username": B_USERNAME, "password": walker.b_password}
    walker.b_token = (await service.api("Accounts/login", login))["token"]
    b_prompts = {"prompts": A_PROMPTS}
    for path, body in [
        ("/api/Prompts/setPrompts", b_prompts),
        ("/api/Profile/updateFollowUp", {"enabled": True}),
        ("/api/Prompts/markFollowUp", {"position": 3}),
        ("/api/Calls/script", {}),
    ]:
        r = await walker.send(path, body, True)
        walker.check_leaks(path, body, r)
        assert r.status_code == 200, r.text
    b_script = r.json()["say"]
    # (B's name may be A's by now: phase 2 typed it into B's profile; B's words are B's)
    assert b_script[1] == A_PROMPTS[0] and not [a for a in A_ANSWERS if a in str(b_script)]
    assert "/webhooks/twilio/gather" in others and "/history" in others, others
    assert RECORDING_ROUTE in others, others

    # B's right password deletes B's own account: only now, or the walk would end early.
    r = await walker.send(DELETE_ACCOUNT, {"password": walker.b_password}, True)
    assert r.status_code == 200, r.text
    walker.check_leaks(DELETE_ACCOUNT, {}, r)
    assert (await walker.send("/api/Accounts/_account", {}, True)).status_code == 401

    assert walker.leaks == [], "\n".join(walker.leaks)
    assert walker.problems == [], "\n".join(walker.problems)
    assert walker.past_validation == set(paths), (
        "routes no body got past input validation (teach b_values their fields): "
        f"{sorted(set(paths) - walker.past_validation)}"
    )
    await walker.check_a_unchanged("B deleted its account")
    assert walker.problems == [], "\n".join(walker.problems)
    assert await a_can_read(service, paths, a) == readable
    assert await history_by_day(service, a.token) == a_days
    # what the walk saw, for `pytest -s`: route, status and how often
    for (path, status), n in sorted(walker.statuses.items()):
        print(f"{path:45} {status} x{n}")
    print(f"{walker.calls} requests as B over {len(paths)} API routes and {len(others)} others")


async def test_a_number_someone_else_verified_is_never_called_for_another_user(
    service: Service,
):
    """B can type A's verified number into B's profile, but no call to it is made for B."""
    await service.sign_up(phone=A_PHONE)
    b = await service.sign_up(phone=B_PHONE)
    updated = await service.api("Profile/updatePhoneNumber", {"phoneNumber": A_PHONE}, b)
    assert updated == {"phoneNumber": A_PHONE}

    refused = await service.api("Calls/now", {}, b, expect=409)
    assert "verify" in refused["error"]
    local = service.clock.now().astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    await service.api("Schedule/allowOutsideWindow", {"allowed": True}, b)
    soon = (local + dt.timedelta(minutes=2)).strftime("%H:%M")
    await service.api("Schedule/setDaily", {"timezone": "Europe/Paris", "time": soon}, b)
    service.clock.advance(minutes=2)
    await service.worker.plan_due()
    assert [c.to for c in await service.dial_due()] == []
    (planned,) = await service.api("CallScheduler/_recent", {}, b)
    assert (planned["status"], planned["errorMessage"]) == (
        "FAILED",
        "the phone number is not verified",
    )
