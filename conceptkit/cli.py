"""The ``conceptkit`` command (the console script, and ``python -m conceptkit.cli``).

The one public module besides ``conceptkit`` itself: it is a program, not an API.
``syncs`` lists every registered sync; ``trace`` prints a flow's causal tree.
"""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
