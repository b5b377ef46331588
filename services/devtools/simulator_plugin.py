"""The phone simulator as a mock-mode tool: the assembly's hooks (services/app/mock_mode.py).

Registered through the ``reflection.mock_mode`` entry-point group (pyproject.toml), so
production assembly never imports the simulator: only a mock-mode process loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.app.mock_mode import hookimpl
from services.devtools.phone_simulator_routes import install_simulator
from services.devtools.simulator_bridge import attach_simulator


@hookimpl
def reflection_mock_services(services: Mapping[str, Any], db: Any) -> None:
    """Record the mock phone's calls and SMS for the simulator (web server and worker)."""
    attach_simulator(services["telephony"], db)


@hookimpl
def reflection_mock_server(asgi: Any, engine: Any, db: Any, config: Any) -> None:
    """Serve the simulator's page and API, and play its calls while the server runs."""
    install_simulator(asgi, engine, db, config)
