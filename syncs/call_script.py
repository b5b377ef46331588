"""What will my call sound like? The words of a whole call, for the web app to read aloud.

``POST /api/Calls/script`` answers ``{say: [text, ...]}``: what a call says to the signed-in
user when every prompt is answered, in order: the greeting by the pronounced name (else the
display name) with the first prompt (after the follow-up's recall, if on and there is one to
recall), each next prompt after the words the call says between prompts, the rating question
if the profile asks for a rating, and goodbye. It is made by ``wording.call_script`` from the
same functions and texts ``answered.py`` and ``conversation.py`` say, over the same queries
(``Profile._spokenName``, ``Prompts._promptList``, the follow-up's in syncs/follow_up.py),
so the preview cannot drift from the call. What a call says to silence or to keys
(``TAKE_YOUR_TIME``, the keypad's help) is not part of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conceptkit import Absent, Computed, Sync, concepts, vars

from . import follow_up
from .wording import call_script

Requesting, Profile, Prompts = concepts("Requesting Profile Prompts")
user, request, name, prompts, rating = vars("user request name prompts rating")

CALL_SCRIPT = "/Calls/script"

ASKED = Requesting.request({"path": CALL_SCRIPT, "user": user}, {"request": request})


def _refused(message: str) -> dict:
    return {"error": message, "errorKind": "conflict"}


ScriptNeedsProfile = Sync(
    "ScriptNeedsProfile",
    doc="the call greets by the profile's name: no script without a profile",
    when=[ASKED],
    where=[Absent(Profile._getProfile({"user": user}, {}))],
    then=[
        Requesting.respond(
            {"request": request, "output": _refused("create your profile first"), "status": 409}
        )
    ],
)

ScriptNeedsPrompts = Sync(
    "ScriptNeedsPrompts",
    doc="no prompts, no call to hear (sign-up gives every account a default set)",
    when=[ASKED],
    where=[
        Profile._getProfile({"user": user}, {}),
        Absent(Prompts._promptList({"user": user}, {})),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": _refused("add a prompt first: the call has nothing to ask"),
                "status": 409,
            }
        )
    ],
)


def _show(name_: str, doc: str, where: list[Any], recall: Callable[[Any], str | None]) -> Sync:
    """A script sync for one of the follow-up's cases (``where``, as the greeting's)."""
    return Sync(
        name_,
        doc=doc,
        when=[ASKED],
        where=[
            *where,
            Profile._spokenName({"user": user}, {"name": name}),
            Profile._getProfile({"user": user}, {"includeRating": rating}),
            Prompts._promptList({"user": user}, {"prompts": prompts}),
        ],
        then=[
            Requesting.respond(
                {
                    "request": request,
                    "output": Computed(
                        lambda f: {
                            "say": call_script(f["name"], f["prompts"], f["rating"], recall(f))
                        },
                        "what a whole call says",
                    ),
                }
            )
        ],
    )


ShowCallScript = _show(
    "ShowCallScript",
    "the greeting by the spoken name, each prompt with the words between them, the "
    "rating question if the profile asks for one, goodbye",
    follow_up.OFF,
    follow_up.nothing,
)
ShowCallScriptWithAFollowUp = _show(
    "ShowCallScriptWithAFollowUp",
    "the same, the greeting recalling the last answer to the follow-up prompt, as the "
    "call's greeting does (GreetWithAFollowUp)",
    follow_up.RECALLED,
    follow_up.recalled,
)
ShowCallScriptWithNothingToRecall = _show(
    "ShowCallScriptWithNothingToRecall",
    "the follow-up is on, with nothing to recall: the script as usual",
    follow_up.NOTHING_TO_RECALL,
    follow_up.nothing,
)
