"""The public webhook URLs Twilio is given, built from PUBLIC_BASE_URL.

Signatures are computed over the exact URL Twilio was told, so both dialling
and validation derive it from this one place.
"""

from __future__ import annotations

import attrs

WEBHOOK_PREFIX = "/webhooks/twilio"


@attrs.frozen
class WebhookUrls:
    base: str = attrs.field(converter=lambda b: b.rstrip("/"))

    def url(self, name: str, **query: str | int) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}{WEBHOOK_PREFIX}/{name}" + (f"?{q}" if q else "")

    def socket_url(self, name: str, **query: str | int) -> str:
        """The WebSocket URL of ``name``: the same public address, ws:// or wss://."""
        url = self.url(name, **query)
        return (
            "wss://" + url[len("https://") :]
            if url.startswith("https://")
            else ("ws://" + url[len("http://") :])
        )

    @property
    def answer(self) -> str:
        return self.url("voice")

    @property
    def status(self) -> str:
        return self.url("status")

    @property
    def recording(self) -> str:
        return self.url("recording")
