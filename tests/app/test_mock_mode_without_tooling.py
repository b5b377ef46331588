"""Mock mode on an install without the ``devtools`` extra: the simulator is left out, loudly.

services/app/mock_mode.py promises that a tool whose dependencies are missing is skipped
with a warning naming the extra, and that mock mode still assembles. A child process
hides httpx (the extra's dependency) from imports, as a plain ``pip install .`` would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import importlib.abc, json, logging, sys

    class NoHttpx(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "httpx" or name.startswith("httpx."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    HIDE = sys.argv[1] == "hide"
    if HIDE:
        sys.meta_path.insert(0, NoHttpx())
    warnings = []

    class Keep(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("services.app.mock_mode").addHandler(Keep(logging.WARNING))
    from services.app.mock_mode import mock_mode_plugins

    tools = mock_mode_plugins()
    called = HIDE and tools.hook.reflection_mock_server(
        asgi=None, engine=None, db=None, config=None
    )
    print(json.dumps({
        "plugins": sorted(n for n, _ in tools.list_name_plugin()),
        "called": called,
        "warnings": warnings,
        "devtools_loaded": sorted(m for m in sys.modules if m.startswith("services.devtools.")),
    }))
    """
)


def run_child(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_simulator_is_left_out_with_a_warning_naming_the_extra() -> None:
    seen = run_child("hide")
    assert seen["plugins"] == []
    assert seen["called"] == []  # the hooks run, and nothing answers them
    assert len(seen["warnings"]) == 1
    assert "phone_simulator" in seen["warnings"][0]
    assert ".[devtools]" in seen["warnings"][0]
    assert "services.devtools.phone_simulator" not in seen["devtools_loaded"]


def test_with_the_extra_installed_the_simulator_is_registered() -> None:
    """The control: the same child without the import block finds the entry point."""
    seen = run_child("keep")
    assert seen["plugins"] == ["phone_simulator"]
    assert seen["warnings"] == []
