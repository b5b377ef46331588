"""The labelled set of spoken answers (spoken_answers.jsonl, next to this module), shared by the test and the bench.

Each line is one answer as speech recognition would transcribe it (lower case, little
punctuation, fillers), the question it answered, the pause after which it was heard,
and whether the speaker had finished (``complete``) or trailed off (``incomplete``).
The ``note`` says what the item exercises; items marked ``existing:`` repeat the
table in test_completion_local.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import attrs

DATA = Path(__file__).with_suffix(".jsonl")

SHORT_PAUSES = (0.8, 1.5, 3.0)
"""Pauses at which a trailing-off answer must never move on: ConversationRelay (~1 s), Gather (3 s)."""


@attrs.frozen
class SpokenAnswer:
    """One labelled answer."""

    question: str
    answer: str
    pause: float
    label: Literal["complete", "incomplete"]
    note: str

    @property
    def complete(self) -> bool:
        return self.label == "complete"

    @property
    def id(self) -> str:
        """A readable test id: the label and the words."""
        return f"{self.label}:{self.answer}"


def load(path: Path = DATA) -> list[SpokenAnswer]:
    """Every labelled answer, in file order; a malformed line fails loudly."""
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in ("complete", "incomplete"):
            raise ValueError(f"{path.name}:{n}: label must be complete or incomplete")
        items.append(SpokenAnswer(**row))
    return items
