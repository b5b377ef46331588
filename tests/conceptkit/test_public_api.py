"""conceptkit's public API is its package: ``__all__`` names it all, and says why.

The modules behind it are private (tests/test_architecture.py checks that nothing
outside conceptkit imports them); here, that ``__all__`` is exactly what the package
offers, that each name is importable, and that the package's docstring gives each one
its reason to be public.
"""

from __future__ import annotations

import subprocess
import sys
import types

import conceptkit


def test_all_is_exactly_what_the_package_offers():
    offered = {
        name
        for name, value in vars(conceptkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(conceptkit.__all__) == offered
    assert len(conceptkit.__all__) == len(set(conceptkit.__all__))


def test_the_docstring_says_why_each_name_is_public():
    doc = conceptkit.__doc__ or ""
    unexplained = [name for name in conceptkit.__all__ if f"``{name}``" not in doc]
    assert unexplained == []


def test_the_command_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "conceptkit.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "syncs" in out.stdout and "trace" in out.stdout
