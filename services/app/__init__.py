"""The service put together: configuration, the adapters chosen by USE_MOCKS, assembly.

- `config`: settings from the environment and `.env`, every problem reported at once;
- `adapters`: Twilio and Gemini, or their local stand-ins, chosen once at startup;
- `assembly`: database, plugins, adapters and routes into one app (server.py, worker.py);
- `worker_loop`: plans and claims due calls, reconciles the invariants;
- `clock`, `logs`, `metrics`, `webapp`: time, logging, Prometheus counters, the web app's files.

Modules are imported by path (`services.app.assembly`), so that reading the config does not load
the web stack.
"""
