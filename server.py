"""The web server: `uvicorn server:app`. Assembly only; see services/app/assembly.py."""

from services.app.assembly import server_app, startup_config

app = server_app(startup_config())
