"""ReflectionSession: one daily reflection, spoken on a call or typed in the web app.

- `concept`: the concept: start (or continue by phone), answer, rate, complete, abandon;
- `calls`: what a phone reflection keeps of its call (transcript, recording);
- `edits`: correcting or filling in an answer afterwards, the original kept;
- `queries`: history, one reflection, the one in progress, the reconciler's look-ups;
- `search`: search by words and dates over prompts and answers, and the full export;
- `index`: the per-user encrypted search index, kept in step with every change of the text;
- `terms`: what a search looks for (its terms, folded text) and where it matches;
- `rules`: limits, input types and the checks that need no database.
"""

from .concept import ReflectionSession

__all__ = ["ReflectionSession"]
