"""The reflection service's adapters and assembly, in subpackages by job.

- `services.telephony`: the telephony port, Twilio's REST adapter, the in-process mock;
- `services.completion`: the completion-check port, Gemini, the local rules;
- `services.encryption`: per-user encryption at rest, key rotation, the private-at-rest migration;
- `services.storage`: the MongoDB client and the embedded nx-27017 server;
- `services.webhooks`: the Twilio edge (signed webhooks in, TwiML out);
- `services.app`: configuration, the adapters chosen by USE_MOCKS, assembly, the worker loop,
  logs, metrics and the web app's files;
- `services.devtools`: development tooling only (call player, callees, phone simulator,
  `make run`); production assembly never imports it.
"""
