"""The stand-ins for Twilio and Gemini: local servers the real client libraries talk to.

- `twilio`: Twilio's REST API (`rest`) with every call created played against the
  service's webhooks by `services.devtools.call_player`, the player the phone simulator
  uses too; `webhooks`: a scripted webhook server for testing the player itself;
- `relay`: Twilio's side of a ConversationRelay session (`RelayCaller`, exported here):
  the signed WebSocket, the caller's prompts, keys and interruptions, the action callback;
- `gemini`: Gemini's `generateContent` endpoint;
- `servers`: uvicorn in a thread, and a proxy from a public URL to a local port.

Tests, benchmarks and the end-to-end stack use them; production never imports them.
"""

from services.devtools.standin.relay import RelayCaller
from services.devtools.standin.relay_model import RelayEnding, RelayRefused, RelayTwiml

__all__ = ["RelayCaller", "RelayEnding", "RelayRefused", "RelayTwiml"]
