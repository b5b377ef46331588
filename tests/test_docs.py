"""Documentation that is generated must match the code."""

from __future__ import annotations

from pathlib import Path

from conceptkit import render_syncs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_sync_listing_is_current():
    expected = (DOCS / "_syncs_header.md").read_text() + render_syncs(
        markdown=True, block=["notes"]
    )
    assert (DOCS / "syncs.md").read_text() == expected, (
        "run `make docs` to regenerate docs/syncs.md"
    )


def test_every_concept_has_a_spec():
    from syncs.plugin import conceptkit_concepts

    for concept in conceptkit_concepts():
        spec = DOCS / "concepts" / f"{concept.name}.md"
        assert spec.exists(), f"missing {spec}"
        text = spec.read_text()
        for heading in ("## Purpose", "## Principle", "## State", "## Actions"):
            assert heading in text, f"{spec.name} lacks {heading}"
