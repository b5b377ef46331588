"""The web server: `uvicorn server:app`. Assembly only; see services/assembly.py."""

from services.assembly import server_app, startup_config

app = server_app(startup_config())
