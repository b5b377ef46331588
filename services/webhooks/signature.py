"""Twilio webhook signatures (`X-Twilio-Signature`), checked with the official validator.

Twilio signs the URL *it* requested. Behind a proxy or TLS terminator the server sees a
different scheme/host/port, so the URL is rebuilt from the configured PUBLIC_BASE_URL,
never from the incoming request. A request that fails validation must be refused (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from twilio.request_validator import SIGNATURE_HEADER, RequestValidator

__all__ = [
    "SIGNATURE_HEADER",
    "multi_params",
    "public_url",
    "sign_twilio_request",
    "signed_form",
    "validate_twilio_request",
]

Params = Mapping[str, str | list[str]]


class _MultiParams(dict[str, list[str]]):
    """Form parameters with repeated names; `getlist` is what RequestValidator looks for."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _multi(params: Params | None) -> _MultiParams:
    """Normalise to name -> all values; Starlette's FormData.items() would keep only one."""
    multi = _MultiParams()
    if params is None:
        return multi
    multi_items = getattr(params, "multi_items", None)
    if callable(multi_items):
        for name, value in multi_items():
            multi.setdefault(name, []).append(str(value))
        return multi
    for name, value in params.items():
        multi[name] = [value] if isinstance(value, str) else [str(v) for v in value]
    return multi


def multi_params(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """A parsed form's (name, value) pairs as name -> every value, in order."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def public_url(public_base_url: str, path: str, query_string: str = "") -> str:
    """The URL Twilio called: configured base + request path + the raw query string."""
    url = public_base_url.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query_string}" if query_string else url


def sign_twilio_request(auth_token: str, url: str, params: Params | None = None) -> str:
    """Compute the `X-Twilio-Signature` Twilio would send (for tests and local stand-ins).

    For a JSON body, pass the URL including `?bodySHA256=<hex>` and no params.
    """
    return RequestValidator(auth_token).compute_signature(url, _multi(params))


def validate_twilio_request(
    auth_token: str,
    public_base_url: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    form_params: Params | None,
    raw_body: bytes,
) -> bool:
    """True only if the request carries a valid signature for its public URL and body.

    `path` and `query_string` are as received (query undecoded). Form bodies are taken
    from `form_params` when given, else parsed from `raw_body`; a `bodySHA256` query
    parameter marks a JSON body, whose digest is checked against `raw_body`.
    """
    signature = next((v for k, v in headers.items() if k.lower() == "x-twilio-signature"), None)
    if not signature or not auth_token:
        return False
    url = public_url(public_base_url, path, query_string)
    validator = RequestValidator(auth_token)
    if "bodySHA256" in parse_qs(query_string):
        try:
            body = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return validator.validate(url, body, signature)
    if form_params is None:
        try:
            text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        form_params = parse_qs(text, keep_blank_values=True)
    return validator.validate(url, _multi(form_params), signature)


async def signed_form(
    request: Any, auth_token: str, public_base_url: str, path: str
) -> list[tuple[str, str]] | None:
    """The form of a Twilio webhook request (a Starlette ``Request``) if its signature,
    over the public URL of ``path``, is right; None if it is missing or wrong."""
    raw = await request.body()
    form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    ok = validate_twilio_request(
        auth_token,
        public_base_url,
        path,
        request.url.query,
        request.headers,
        multi_params(form),
        raw,
    )
    return form if ok else None
