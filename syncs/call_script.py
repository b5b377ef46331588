"""What will my call sound like? The words of a whole call, for the web app to read aloud.

``POST /api/Calls/script`` answers ``{say: [text, ...]}``: what a call says to the signed-in
user when every prompt is answered, in order: the greeting by the pronounced name (else the
display name) with the first prompt, each next prompt after the words the call says between
prompts, the rating question if the profile asks for a rating, and goodbye. It is made by
``wording.call_script`` from the same functions and texts ``answered.py`` and
``conversation.py`` say, over the same queries (``Profile._spokenName``,
``Prompts._promptList``), so the preview cannot drift from the call. What a call says to
silence or to keys (``TAKE_YOUR_TIME``, the keypad's help) is not part of it.
"""

from __future__ import annotations

from conceptkit import Absent, Computed, Sync, concepts, vars

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

ShowCallScript = Sync(
    "ShowCallScript",
    doc="the greeting by the spoken name, each prompt with the words between them, the "
    "rating question if the profile asks for one, goodbye",
    when=[ASKED],
    where=[
        Profile._spokenName({"user": user}, {"name": name}),
        Profile._getProfile({"user": user}, {"includeRating": rating}),
        Prompts._promptList({"user": user}, {"prompts": prompts}),
    ],
    then=[
        Requesting.respond(
            {
                "request": request,
                "output": Computed(
                    lambda f: {"say": call_script(f["name"], f["prompts"], f["rating"])},
                    "what a whole call says",
                ),
            }
        )
    ],
)
