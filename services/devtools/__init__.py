"""Development tooling, never on the production path (tests/test_architecture.py checks it).

Mock mode reaches it only through the hooks of services/app/mock_mode.py (the entry point
``phone_simulator`` registers `simulator_plugin`); its dependencies are the ``devtools``
extra, which `make run` and ``.[dev]`` install.

- `devrun`: what `make run` executes (database, web server, worker);
- `call_player` (with `call_model`, `call_webhooks`, `twiml_interpreter`) and `callees`:
  play a call against the webhooks the way Twilio would;
- `phone_simulator` (with `simulator_bridge`, `simulator_calls`, `simulator_page`,
  `simulator_ownership`), `phone_simulator_routes`, `simulator_plugin`: the browser phone
  served in mock mode.
"""
