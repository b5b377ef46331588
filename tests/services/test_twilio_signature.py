"""Webhook signature validation against PUBLIC_BASE_URL, with the library's validator."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData

from services.webhooks.signature import public_url, sign_twilio_request, validate_twilio_request

TOKEN = "12345abcdef"
PUBLIC = "https://example.test"
PATH = "/twilio/voice/status"
QUERY = "call=c1&attempt=2"
PARAMS = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing", "SequenceNumber": "1", "Digits": ""}


def signed_headers(url: str, params: dict | None = None, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": sign_twilio_request(token, url, params)}


def validate(headers, params, *, public=PUBLIC, path=PATH, query=QUERY, body=b"", token=TOKEN):
    return validate_twilio_request(token, public, path, query, headers, params, body)


def test_public_url_joins_base_path_and_query() -> None:
    assert public_url("https://example.test/", "/a/b", "x=1") == "https://example.test/a/b?x=1"
    assert public_url("https://example.test/app", "/a", "") == "https://example.test/app/a"


def test_valid_form_request() -> None:
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS)
    assert validate(headers, PARAMS)


def test_form_parsed_from_raw_body_when_no_params_given() -> None:
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS)
    assert validate(headers, None, body=urlencode(PARAMS).encode())


def test_tampered_parameter_fails() -> None:
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS)
    assert not validate(headers, {**PARAMS, "CallStatus": "completed"})
    assert not validate(headers, {**PARAMS, "Extra": "1"})
    assert not validate(headers, PARAMS, query="call=c2&attempt=2")


def test_url_seen_behind_the_proxy_is_not_the_signed_url() -> None:
    internal = "http://internal:8000"
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS)
    assert not validate(headers, PARAMS, public=internal)
    # ...and a request signed for the internal URL is refused when the public one is configured.
    assert not validate(signed_headers(f"{internal}{PATH}?{QUERY}", PARAMS), PARAMS)


def test_explicit_default_port_is_tolerated_like_the_library() -> None:
    headers = signed_headers(f"https://example.test:443{PATH}?{QUERY}", PARAMS)
    assert validate(headers, PARAMS)


def test_wrong_token_fails() -> None:
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS, token="other-token")
    assert not validate(headers, PARAMS)
    assert not validate(signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS), PARAMS, token="")


def test_missing_or_empty_header_fails() -> None:
    assert not validate({}, PARAMS)
    assert not validate({"X-Twilio-Signature": ""}, PARAMS)


def test_header_name_is_case_insensitive() -> None:
    [(_, signature)] = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", PARAMS).items()
    assert validate({"x-twilio-signature": signature}, PARAMS)


def test_repeated_parameter_names() -> None:
    params = {"CallSid": "CA1", "Event": ["ringing", "answered"]}
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", params)
    assert validate(headers, params)
    assert validate(headers, {"CallSid": "CA1", "Event": ["answered", "ringing"]})
    assert validate(
        headers, FormData([("Event", "answered"), ("CallSid", "CA1"), ("Event", "ringing")])
    )
    body = b"Event=answered&CallSid=CA1&Event=ringing"
    assert validate(headers, None, body=body)
    assert not validate(headers, {"CallSid": "CA1", "Event": "answered"})
    assert not validate(headers, None, body=b"Event=answered&CallSid=CA1")


def test_json_body_with_body_sha256() -> None:
    body = json.dumps({"CallSid": "CA1", "note": "café & <3"}).encode()
    query = f"bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = signed_headers(f"{PUBLIC}{PATH}?{query}")  # JSON: URL only, no params
    assert validate(headers, None, query=query, body=body)
    assert not validate(headers, None, query=query, body=body.replace(b"CA1", b"CA2"))
    assert not validate(headers, None, query=query, body=b"\xff\xfe")


@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
        st.lists(st.text(st.characters(codec="utf-8"), max_size=12), min_size=1, max_size=3),
        max_size=5,
    )
)
def test_sign_then_validate_round_trips(params: dict[str, list[str]]) -> None:
    headers = signed_headers(f"{PUBLIC}{PATH}?{QUERY}", params)
    assert validate(headers, params)
    assert validate(headers, None, body=urlencode(params, doseq=True).encode())
