"""GET /metrics: private unless configured, and what it shows after a call."""

from __future__ import annotations

from services.app.metrics import METRICS
from services.devtools.callees import BusyCallee, ScriptedCallee
from tests.app.conftest import running_service

TOKEN = "metrics-token-for-tests"
ANSWERS = ["A quiet morning.", "A long walk in the park.", "Rest more tomorrow."]


def value(name: str, **labels: str) -> float:
    return METRICS.registry.get_sample_value(name, labels) or 0.0


async def test_metrics_are_served_only_with_the_token(mongo_uri):
    async with running_service(mongo_uri, settings={"METRICS_TOKEN": TOKEN}) as service:
        assert (await service.http.get("/metrics")).status_code == 404
        wrong = {"Authorization": "Bearer not-it"}
        assert (await service.http.get("/metrics", headers=wrong)).status_code == 404
        r = await service.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert "# TYPE reflection_webhook_turn_seconds histogram" in r.text


async def test_without_a_token_there_is_no_metrics_route(mongo_uri):
    async with running_service(mongo_uri) as service:
        assert (await service.http.get("/metrics")).status_code == 404


async def test_a_call_and_a_missed_call_are_counted(mongo_uri):
    before = {
        "placed": value("reflection_calls_placed_total", how="dialled"),
        "answered": value("reflection_calls_answered_total"),
        "busy": value("reflection_calls_missed_total", outcome="BUSY"),
        "verdicts": value(
            "reflection_completion_verdicts_total", source="local", verdict="complete"
        ),
        "turns": value("reflection_webhook_turn_seconds_count", webhook="gather"),
    }
    async with running_service(mongo_uri, settings={"METRICS_TOKEN": TOKEN}) as service:
        token = await service.sign_up()
        await service.call_now(token)
        (placed,) = await service.dial_due()
        await service.play(placed, BusyCallee())
        (again,) = await service.dial_due()
        await service.play(again, ScriptedCallee(ANSWERS))
        r = await service.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert 'reflection_calls_missed_total{outcome="BUSY"}' in r.text
    assert value("reflection_calls_placed_total", how="dialled") == before["placed"] + 2
    assert value("reflection_calls_answered_total") == before["answered"] + 1
    assert value("reflection_calls_missed_total", outcome="BUSY") == before["busy"] + 1
    judged = value("reflection_completion_verdicts_total", source="local", verdict="complete")
    assert judged >= before["verdicts"] + 3
    assert value("reflection_webhook_turn_seconds_count", webhook="gather") >= before["turns"] + 3
