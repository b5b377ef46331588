"""The stand-ins for Twilio and Gemini: local servers the real client libraries talk to.

- `twilio`: Twilio's REST API (`rest`) with every call created played against the
  service's webhooks by `services.devtools.call_player`, the player the phone simulator
  uses too; `webhooks`: a scripted webhook server for testing the player itself;
- `gemini`: Gemini's `generateContent` endpoint;
- `servers`: uvicorn in a thread, and a proxy from a public URL to a local port.

Tests, benchmarks and the end-to-end stack use them; production never imports them.
"""
