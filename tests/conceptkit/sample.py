"""Small concepts used to exercise the engine: nothing here knows about phones either."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from conceptkit import (
    Authenticator,
    Change,
    Computed,
    Concept,
    Filter,
    Len,
    Range,
    Sync,
    action,
    authenticated,
    concepts,
    fail,
    hookimpl,
    public,
    query,
    requested,
    vars,
)


class Opened(TypedDict):
    account: str


class Ledger(Concept):
    """Accounts with balances; deposits and withdrawals that may fail."""

    async def setup(self) -> None:
        await self.collection("accounts").create_index("owner")

    @action
    async def open(self, owner: str, label: Annotated[str, Len(1, 40)] = "main") -> Opened:
        """Open an account for owner."""
        account = self.new_id()
        doc = {"_id": account, "owner": owner, "label": label, "balance": 0}
        opened = await self.store("accounts").create(doc, {"account": account})
        return fail("that account exists already") if opened is None else opened

    @action
    async def deposit(
        self, owner: str, account: str, amount: Annotated[int, Range(1, 10_000)]
    ) -> dict[str, Any]:
        """Add money to one of owner's accounts."""

        def decide(doc: dict[str, Any]) -> Change:
            out = {"account": account, "amount": amount}
            return Change(out, set={"balance": doc["balance"] + amount})

        return await self.store("accounts").change(
            {"_id": account, "owner": owner}, decide, missing=fail("no such account", "not_found")
        )

    @action
    async def withdraw(
        self, owner: str, account: str, amount: Annotated[int, Range(1, 10_000)]
    ) -> dict[str, Any]:
        def decide(doc: dict[str, Any]) -> Change | dict[str, Any]:
            if doc["balance"] < amount:
                return fail("insufficient funds")
            return Change(
                {"account": account, "amount": amount}, set={"balance": doc["balance"] - amount}
            )

        return await self.store("accounts").change(
            {"_id": account, "owner": owner}, decide, missing=fail("insufficient funds")
        )

    @action
    async def explode(self, owner: str) -> dict[str, Any]:
        raise RuntimeError("secret internals: db password is hunter2")

    @query
    async def _accounts(self, owner: str) -> list[dict[str, Any]]:
        docs = self.collection("accounts").find({"owner": owner}).sort("_id", 1)
        return [
            {"account": d["_id"], "label": d["label"], "balance": d["balance"]} async for d in docs
        ]

    @query
    async def _internal(self, owner: str) -> list[dict[str, Any]]:
        """Not exposed: must be unreachable."""
        return [{"owner": owner}]


class Audit(Concept):
    """A trail of notable events."""

    @action
    async def note(self, owner: str, event: str, detail: str = "") -> dict[str, Any]:
        doc = {"_id": self.new_id(), "owner": owner, "event": event, "detail": detail}
        noted = await self.store("events").create(doc, {})
        return fail("noted already") if noted is None else noted

    @action
    async def noteSlowly(self, owner: str, event: str, seconds: float) -> dict[str, Any]:
        """A note that takes a while (work a sync does after it has responded)."""
        await asyncio.sleep(seconds)
        return await self.note(owner=owner, event=event)

    @query
    async def _events(self, owner: str) -> list[dict[str, Any]]:
        docs = self.collection("events").find({"owner": owner}).sort("_id", 1)
        return [{"event": d["event"], "detail": d["detail"]} async for d in docs]


class Sessions(Concept):
    """Bearer tokens for tests: token 't-<user>' belongs to user."""

    @action
    async def login(self, user: str, password: str) -> dict[str, Any]:
        if password != "pw":
            return fail("wrong password", "unauthorized")
        return {"token": f"t-{user}"}

    @query
    async def _user(self, token: str) -> list[dict[str, Any]]:
        return [{"user": token[2:]}] if token.startswith("t-") and len(token) > 2 else []


class Secrets(Concept):
    """Has secret and private fields, to test what the log keeps."""

    @action(secret=("password",), private=("diary", "echo"))
    async def store(self, user: str, password: str, diary: str) -> dict[str, Any]:
        return {"echo": diary}


class Flaky(Concept):
    """An action that raises while ``broken`` is set (an outage), and one that starts a flow."""

    broken: ClassVar[bool] = False

    @action
    async def begin(self, owner: str) -> dict[str, Any]:
        return {"owner": owner}

    @action
    async def step(self, owner: str, n: int) -> dict[str, Any]:
        if Flaky.broken:
            raise RuntimeError("the step's service is down")
        doc = {"_id": self.new_id(), "owner": owner, "n": n}
        done = await self.store("steps").create(doc, {"n": n})
        return fail("stepped already") if done is None else done

    @query
    async def _steps(self, owner: str) -> list[dict[str, Any]]:
        docs = self.collection("steps").find({"owner": owner}).sort("_id", 1)
        return [{"n": d["n"]} async for d in docs]


L, A, S, R, F = concepts("Ledger Audit Sessions Requesting Flaky")
owner, account, amount, event, request, body, user = vars(
    "owner account amount event request body user"
)

AuditOpen = Sync(
    "AuditOpen",
    when=[L.open({"owner": owner}, {"account": account})],
    then=[A.note({"owner": owner, "event": "opened", "detail": account})],
)
AuditOverdraft = Sync(
    "AuditOverdraft",
    when=[L.withdraw({"owner": owner}, {"error": vars("err")[0]})],
    then=[A.note({"owner": owner, "event": "overdraft"})],
)
# Two-pattern sync: a deposit and a withdrawal in the same flow.
AuditRoundTrip = Sync(
    "AuditRoundTrip",
    when=[
        L.deposit({"owner": owner, "account": account}, {}),
        L.withdraw({"owner": owner, "account": account}, {}),
    ],
    then=[A.note({"owner": owner, "event": "roundtrip", "detail": account})],
)
# where-clause expansion: one note per account with a balance above 100.
AuditRich = Sync(
    "AuditRich",
    when=[L.deposit({"owner": owner}, {"amount": amount})],
    where=[
        L._accounts({"owner": owner}, {"account": account, "balance": vars("balance")[0]}),
        Filter(lambda f: f["balance"] > 100, "balance > 100"),
    ],
    then=[A.note({"owner": owner, "event": "rich", "detail": account})],
)
# a where that reads no state (Filter only): a replay derives the same frames
AuditLargeDeposit = Sync(
    "AuditLargeDeposit",
    when=[L.deposit({"owner": owner}, {"amount": amount})],
    where=[Filter(lambda f: f["amount"] >= 5000, "amount >= 5000")],
    then=[A.note({"owner": owner, "event": "large"})],
)
# request-driven route: /Bank/summary answered by a sync
Summary = Sync(
    "Summary",
    when=[R.request({"path": "/Bank/summary", "user": user}, {"request": request})],
    where=[L._accounts({"owner": user}, {"balance": vars("b")[0]})],
    then=[
        R.respond(
            {"request": request, "output": Computed(lambda f: {"balance": f["b"]}, "{balance}")}
        )
    ],
)


# after the reply: noted slowly, which the caller does not wait for
SummaryViewed = Sync(
    "SummaryViewed",
    when=[
        R.request({"path": "/Bank/summary", "user": user}, {"request": request}),
        R.respond({"request": request}, {}),
    ],
    then=[A.noteSlowly({"owner": user, "event": "viewed", "seconds": 1.0})],
)


# a public request-driven route told the caller's address (requested(..., client=True))
WhereFrom = Sync(
    "WhereFrom",
    when=[R.request({"path": "/Bank/whereFrom", "client": vars("c")[0]}, {"request": request})],
    then=[
        R.respond(
            {"request": request, "output": Computed(lambda f: {"client": f["c"]}, "{client}")}
        )
    ],
)


# three then-actions; if the middle one raises, the third must not run until it is repaired
ThreeSteps = Sync(
    "ThreeSteps",
    when=[F.begin({"owner": owner}, {})],
    then=[
        A.note({"owner": owner, "event": "first"}),
        F.step({"owner": owner, "n": 2}),
        A.note({"owner": owner, "event": "third"}),
    ],
)


class SummaryBody(TypedDict):
    currency: Literal["EUR", "USD"]


class SamplePlugin:
    @hookimpl
    def conceptkit_concepts(self):
        return [Ledger, Audit, Sessions, Secrets, Flaky]

    @hookimpl
    def conceptkit_syncs(self):
        return [
            AuditOpen,
            AuditOverdraft,
            AuditRoundTrip,
            AuditRich,
            AuditLargeDeposit,
            Summary,
            SummaryViewed,
            WhereFrom,
            ThreeSteps,
        ]

    @hookimpl
    def conceptkit_exposures(self):
        return [
            public(S.login),
            authenticated(L.open, user="owner"),
            authenticated(L.deposit, user="owner"),
            authenticated(L.withdraw, user="owner"),
            authenticated(L.explode, user="owner"),
            authenticated(L._accounts, user="owner"),
            authenticated(A._events, user="owner"),
            requested(
                "/Bank/summary",
                body=SummaryBody,
                doc="Your balance across accounts. Counts every deposit and withdrawal.",
            ),
            requested("/Bank/never", timeout_s=0.3),
            requested("/Bank/whereFrom", auth=False, client=True),
        ]

    @hookimpl
    def conceptkit_authenticator(self):
        return Authenticator("Sessions", "_user")
