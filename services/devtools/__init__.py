"""Development tooling, never on the production path.

- `devrun`: what `make run` executes (database, web server, worker);
- `call_player` and `callees`: play a call against the webhooks the way Twilio would;
- `phone_simulator`, `phone_simulator_routes`, `simulator_ownership`: the browser phone
  served in mock mode.
"""
