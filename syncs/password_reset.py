"""Where does a password reset code go? Only to the account's verified phone.

``Accounts.requestReset`` answers every caller the same, account or not; this rule is
the only place that knows which account the username names and whether its profile's
number is verified, and it answers nobody.
"""

from __future__ import annotations

from conceptkit import Sync, concepts, vars

Accounts, Profile, PhoneVerification = concepts("Accounts Profile PhoneVerification")
username, user, number = vars("username user number")

TextTheResetCode = Sync(
    "TextTheResetCode",
    doc="a reset code is texted only to the profile's number, and only if it is verified",
    when=[Accounts.requestReset({"username": username}, {})],
    where=[
        Accounts._userNamed({"username": username}, {"user": user}),
        Profile._getProfile({"user": user}, {"phoneNumber": number}),
        PhoneVerification._isVerified({"user": user, "phoneNumber": number}, {"verified": True}),
    ],
    then=[Accounts.sendResetCode({"user": user, "phoneNumber": number})],
)
