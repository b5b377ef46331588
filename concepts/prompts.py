"""Prompts: each user's own reflection questions (one to five, in order), and which one is
the follow-up one (what the next call's greeting may recall the answer to).

The list is stored as one token, encrypted for its owner (the ``encryption`` port), and
is private in the action log. The follow-up mark is a position, not text: nothing more
of the user's words is stored for it.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Annotated, Any, TypedDict

from conceptkit import Change, Concept, Doc, Len, Range, Strip, action, fail, query

MIN_PROMPTS = 1
MAX_PROMPTS = 5
MAX_PROMPT_CHARS = 300
DEFAULT_PROMPTS = (
    "What are you grateful for today?",
    "What went well today?",
    "What would you like to carry into tomorrow?",
)

FIELD_PROMPTS = "Prompts.prompts"  # the token's field label (its associated data)

PromptText = Annotated[str, Strip(), Len(1, MAX_PROMPT_CHARS), Doc("a question, 1-300 characters")]
PromptList = Annotated[
    list[PromptText],
    Len(MIN_PROMPTS, MAX_PROMPTS),
    Doc("1-5 distinct questions, in the order they are asked"),
]
Position = Annotated[int, Range(1, MAX_PROMPTS), Doc("1 is the first prompt")]


class PromptsOut(TypedDict):
    prompts: list[str]


class Marked(TypedDict):
    position: int


def normalize_prompt(text: str) -> str:
    """Surrounding whitespace removed and inner runs of whitespace (newlines too) made one space:
    a prompt is one line, spoken aloud on the phone."""
    return " ".join(text.split())


def check_prompts(prompts: Any) -> tuple[list[str], str | None]:
    """The normalized prompts, or what is wrong with them (the same rules over HTTP and in syncs)."""
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        return [], "prompts must be a list of strings"
    if not MIN_PROMPTS <= len(prompts) <= MAX_PROMPTS:
        return [], f"you can have {MIN_PROMPTS} to {MAX_PROMPTS} prompts, not {len(prompts)}"
    cleaned = [normalize_prompt(p) for p in prompts]
    seen: dict[str, int] = {}
    for position, text in enumerate(cleaned, start=1):
        if not text:
            return [], f"prompt {position} is blank"
        if len(text) > MAX_PROMPT_CHARS:
            return [], f"prompt {position} is longer than {MAX_PROMPT_CHARS} characters"
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
            return [], f"prompt {position} contains control or unassigned characters"
        key = text.casefold()
        if key in seen:
            return [], f"prompt {position} repeats prompt {seen[key]}"
        seen[key] = position
    return cleaned, None


def _key(text: str) -> str:
    return normalize_prompt(text).casefold()


def followed(old: list[str], marked: int | None, new: list[str]) -> int | None:
    """Where the follow-up mark goes when ``old`` becomes ``new``: to the marked prompt's
    place in ``new`` (the same words, ignoring case), or None (the default, the last) when
    it was unmarked or is gone."""
    if marked is None or not 1 <= marked <= len(old):
        return None
    wanted = _key(old[marked - 1])
    return next((i for i, text in enumerate(new, start=1) if _key(text) == wanted), None)


def follow_up_of(prompts: list[str], marked: int | None) -> int:
    """The follow-up prompt's position: the one marked, else the last."""
    return marked if marked is not None and 1 <= marked <= len(prompts) else len(prompts)


class Prompts(Concept):
    """Keeps each user's reflection prompts: the one to five questions, in order, that their
    daily reflection asks, so the call and the web app ask the user's own questions; and
    which of them is the follow-up one, whose last answer a call may recall.

    Principle: at sign-up ``setDefaults(u)`` gives three sensible prompts; after
    ``setPrompts(u, ["How did you sleep?", "What went well today?"])``, ``_prompts(u)``
    returns exactly those two, in that order, and the next reflection asks them;
    ``movePrompt(u, 2, 1)`` asks the second first. The follow-up prompt is the last one
    until ``markFollowUp(u, 1)`` marks another; the mark follows its prompt when the list
    is reordered, and goes back to the last when that prompt is removed.
    """

    uses = ("clock", "encryption")

    def _now(self) -> dt.datetime:
        return self.services["clock"].now()

    def _seal(self, user: str, prompts: list[str]) -> str:
        text = json.dumps(prompts, ensure_ascii=False)
        return self.services["encryption"].encrypt(text, user=user, field=FIELD_PROMPTS)

    def _open(self, doc: dict[str, Any]) -> list[str]:
        text = self.services["encryption"].decrypt(
            doc["prompts"], user=doc["_id"], field=FIELD_PROMPTS
        )
        return list(json.loads(text))

    # -- actions ------------------------------------------------------------------------

    @action(private=("prompts",))
    async def setDefaults(self, user: str) -> PromptsOut:
        """Give a new user the three default prompts; fails (conflict) if they have prompts."""
        prompts = list(DEFAULT_PROMPTS)
        sealed = self._seal(user, prompts)
        doc = {"_id": user, "prompts": sealed, "updatedAt": self._now(), "version": 1}
        created = await self.store("prompts").create(doc, {"prompts": prompts})
        return fail("you already have prompts", "conflict") if created is None else created

    @action(private=("prompts",))
    async def setPrompts(self, user: str, prompts: PromptList) -> PromptsOut:
        """Replace all prompts (edit, add, remove and reorder are all this one action).

        1-5 prompts; each is trimmed, inner whitespace collapsed, non-blank, at most 300
        characters, and different from the others (ignoring case).
        """
        cleaned, problem = check_prompts(prompts)
        if problem:
            return fail(problem, "invalid")

        def decide(doc: dict[str, Any]) -> Change:
            # the follow-up mark follows its prompt's words into the new list, or is dropped
            old = self._open(doc) if doc.get("prompts") else []
            mark = followed(old, doc.get("followUp"), cleaned)
            changes = {"prompts": self._seal(user, cleaned), "updatedAt": self._now()}
            return Change({"prompts": cleaned}, set={**changes, "followUp": mark})

        initial = {"_id": user, "prompts": None, "followUp": None, "version": 1}
        return await self.store("prompts").change_or_create(
            {"_id": user},
            decide,
            initial=initial,
            busy=fail("your prompts are changing too often; try again", "unavailable"),
        )

    @action(private=("prompts",))
    async def movePrompt(
        self, user: str, fromPosition: Position, toPosition: Position
    ) -> PromptsOut:
        """Move the prompt at ``fromPosition`` to ``toPosition`` (1-based); the rest keep their order."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            current = self._open(doc)
            for name, value in (("fromPosition", fromPosition), ("toPosition", toPosition)):
                if not 1 <= value <= len(current):
                    return fail(
                        f"{name} {value} is out of range: you have {len(current)} prompt(s)",
                        "invalid",
                    )
            before = list(current)
            moved = current.pop(fromPosition - 1)
            current.insert(toPosition - 1, moved)
            changes = {
                "prompts": self._seal(user, current),
                "updatedAt": self._now(),
                "followUp": followed(before, doc.get("followUp"), current),  # it moves too
            }
            return Change({"prompts": current}, set=changes)

        # a compare-and-set on the version read, so a concurrent edit is never overwritten
        return await self.store("prompts").change(
            {"_id": user},
            decide,
            missing=fail("you have no prompts yet", "not_found"),
            busy=fail("your prompts are changing too often; try again", "unavailable"),
        )

    @action
    async def markFollowUp(self, user: str, position: Position | None = None) -> Marked:
        """Mark the prompt at ``position`` as the follow-up one (whose last answer a call
        may recall); null goes back to the default, the last prompt. Outputs its position."""

        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            count = len(self._open(doc))
            if position is not None and not 1 <= position <= count:
                return fail(
                    f"position {position} is out of range: you have {count} prompt(s)", "invalid"
                )
            marked = {"position": position if position is not None else count}
            return Change(marked, set={"followUp": position, "updatedAt": self._now()})

        return await self.store("prompts").change(
            {"_id": user},
            decide,
            missing=fail("you have no prompts yet", "not_found"),
            busy=fail("your prompts are changing too often; try again", "unavailable"),
        )

    async def _current(self, user: str) -> list[str] | None:
        doc = await self.collection("prompts").find_one({"_id": user})
        return None if doc is None else self._open(doc)

    @action
    async def deleteAllFor(self, user: str) -> dict[str, Any]:
        """Forget the user's prompts."""
        await self.collection("prompts").delete_many({"_id": user})
        return {}

    # -- queries ------------------------------------------------------------------------

    @query(private=("text",))
    async def _prompts(self, user: str) -> list[dict[str, Any]]:
        """The user's prompts in order, one row per prompt: ``{position, text}``.

        Empty if the user never set any (sign-up calls ``setDefaults``; nothing is invented here).
        """
        prompts = await self._current(user) or []
        return [{"position": i, "text": t} for i, t in enumerate(prompts, start=1)]

    @query(private=("prompts",))
    async def _promptList(self, user: str) -> list[dict[str, Any]]:
        """All of the user's prompts as ONE row ``{prompts: [text, ...]}`` (empty if none).

        For syncs: a where-clause on ``_prompts`` would make one frame per prompt, while
        starting a reflection needs the whole list in one frame.
        """
        prompts = await self._current(user)
        return [{"prompts": prompts}] if prompts else []

    @query(private=("text",))
    async def _followUpPrompt(self, user: str) -> list[dict[str, Any]]:
        """The follow-up prompt as one row ``{position, text, marked}`` (``marked`` false: no
        prompt is marked, so it is the last one); empty if the user has no prompts."""
        doc = await self.collection("prompts").find_one({"_id": user})
        if doc is None:
            return []
        prompts = self._open(doc)
        position = follow_up_of(prompts, doc.get("followUp"))
        marked = doc.get("followUp") is not None and position == doc["followUp"]
        return [{"position": position, "text": prompts[position - 1], "marked": marked}]
