"""The reflection service's action log keeps working past a record it cannot store.

conceptkit's own tests (tests/conceptkit/test_actionlog_quarantine.py) show a record
the log cannot store is kept redacted in its place and never blocks the others; this
is the same below the service's JSON boundary (which refuses such input).
"""

from __future__ import annotations

from conceptkit import InvocationError
from services.app.metrics import METRICS
from tests.app.conftest import running_service


async def test_the_service_login_with_a_lone_surrogate_leaves_the_log_working(mongo_uri):
    """The reflection service itself, below its JSON boundary (which refuses such input)."""

    def quarantined() -> float:
        sample = "conceptkit_log_records_quarantined_total"
        return METRICS.registry.get_sample_value(sample, {"reason": "UnicodeEncodeError"}) or 0.0

    before = quarantined()
    async with running_service(mongo_uri) as service:
        bad = {"username": "\ud800", "password": "not-the-password"}
        try:
            out = await service.engine.invoke("Accounts", "login", bad, validated=True)
            assert out["errorKind"] == "unauthorized"
        except InvocationError:  # a login that writes first fails before its effect
            pass
        await service.sign_up()  # later records still reach the log
        await service.engine.log.flush()
        actions = service.engine.log.actions
        (stand_in,) = await actions.find({"quarantined": {"$exists": True}}).to_list(None)
        assert (stand_in["concept"], stand_in["action"]) == ("Accounts", "login")
        assert "\\ud800" not in str(stand_in["inputs"])
        assert await actions.count_documents({"concept": "Accounts", "action": "register"}) == 1
    assert quarantined() == before + 1
