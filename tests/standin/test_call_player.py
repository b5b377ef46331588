"""CallPlayer against a signature-checking webhook app (in-process via ASGITransport)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from services.devtools import call_model
from services.devtools.call_player import (
    APPLICATION_ERROR_MESSAGE,
    CallPlayer,
    CallResult,
    CallSpec,
    GatherContext,
    HangUp,
    PlayerOptions,
    Silence,
    StatusCallback,
    Utterance,
)
from services.devtools.callees import (
    BusyCallee,
    FailedCallee,
    HangUpAfter,
    InteractiveCallee,
    NoAnswerCallee,
    ScriptedCallee,
    SilentCallee,
    VoicemailCallee,
)
from services.devtools.standin.twilio import no_sleep
from services.devtools.standin.webhooks import ReceivedWebhook, ScriptedWebhooks
from services.webhooks import twiml

TOKEN = "webhook-test-token"
FROM = "+15550001111"
TO = "+14155550100"
RECORDING_URL = re.compile(
    r"^https://api\.twilio\.com/2010-04-01/Accounts/AC[0-9a-f]{32}/Recordings/RE[0-9a-f]{32}$"
)


@pytest.fixture
def hooks() -> ScriptedWebhooks:
    return ScriptedWebhooks(TOKEN)


@pytest.fixture
async def http(hooks: ScriptedWebhooks) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hooks.app)) as client:
        yield client


def make_spec(hooks: ScriptedWebhooks, **overrides: object) -> CallSpec:
    fields: dict[str, object] = {
        "to": TO,
        "from_": FROM,
        "answer_url": hooks.url("/answer?call=c1"),
        "status_callback_url": hooks.url("/status"),
        "recording_status_callback_url": hooks.url("/recording"),
        "machine_detection": "Enable",
    }
    fields.update(overrides)
    return CallSpec(**fields)  # type: ignore[arg-type]


async def play(
    hooks: ScriptedWebhooks,
    http: httpx.AsyncClient,
    callee: object,
    spec: CallSpec | None = None,
    **options: object,
) -> CallResult:
    player = CallPlayer(
        spec or make_spec(hooks),
        auth_token=TOKEN,
        http=http,
        callee=callee,  # type: ignore[arg-type]
        options=PlayerOptions(**{"sleep": no_sleep, **options}),  # type: ignore[arg-type]
    )
    result = await asyncio.wait_for(player.play(), 5)
    assert hooks.requests, "no webhook was sent"
    assert all(r.signature_valid for r in hooks.requests), "a webhook had a bad signature"
    return result


def sleep_recorder() -> tuple[list[float], Any]:
    """A `sleep` that returns at once and notes how long it was asked to wait."""
    waited: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waited.append(seconds)

    return waited, record_sleep


def gather(*texts: str, action: str = "/turn") -> str:
    return twiml.say_and_gather(list(texts), "https://service.test" + action)


def conversation(hooks: ScriptedWebhooks, turns: int = 1) -> list[str]:
    """Greets, then asks again after each answer until `turns` answers came; returns them."""
    heard: list[str] = []
    hooks.routes["/answer"] = lambda r: gather("Hello Ana.", "What was good today?")

    def turn(request: ReceivedWebhook) -> str:
        heard.append(request.form.get("SpeechResult", ""))
        if len(heard) < turns:
            return gather("Go on.")
        return twiml.say_and_hangup(["Thank you. Goodbye."])

    hooks.routes["/turn"] = turn
    return heard


def status_pairs(hooks: ScriptedWebhooks) -> list[tuple[int, str]]:
    return [
        (int(r.form["SequenceNumber"]), r.form["CallStatus"]) for r in hooks.received("/status")
    ]


# -- a conversation ------------------------------------------------------------------------


async def test_full_conversation(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    heard = conversation(hooks)
    callee = ScriptedCallee(["I walked by the sea"])
    result = await play(hooks, http, callee)

    assert result.final_status == "completed"
    assert result.ended_by == "service"
    assert result.ok, result.errors
    assert result.said == ["Hello Ana.", "What was good today?", "Thank you. Goodbye."]
    assert result.callee_said == ["I walked by the sea"] == heard
    assert callee.heard == result.said
    assert callee.prompts[0].prompt == "Hello Ana. What was good today?"
    assert callee.prompts[0].timeout_s == 6 and callee.prompts[0].speech_timeout == "3"
    assert [w.kind for w in result.webhooks] == [
        "status", "status", "status", "answer", "gather", "status", "recording",
    ]  # fmt: skip

    answer = hooks.received("/answer")[0]
    assert answer.query == "call=c1"  # the query is part of the signed URL
    assert answer.headers["content-type"] == "application/x-www-form-urlencoded"
    assert answer.form["CallStatus"] == "in-progress"
    assert answer.form["AnsweredBy"] == "human"
    assert answer.form["Direction"] == "outbound-api"
    assert answer.form["ApiVersion"] == "2010-04-01"
    assert answer.form["CallSid"] == result.sid and re.fullmatch(r"CA[0-9a-f]{32}", result.sid)
    assert (answer.form["From"], answer.form["To"]) == (FROM, TO)

    [turn] = hooks.received("/turn")
    assert turn.form["SpeechResult"] == "I walked by the sea"
    assert float(turn.form["Confidence"]) == pytest.approx(0.92)
    assert len(result.turn_latencies_ms) == 1 and result.turn_latencies_ms[0] >= 0

    assert status_pairs(hooks) == [
        (0, "initiated"),
        (1, "ringing"),
        (2, "in-progress"),
        (3, "completed"),
    ]
    statuses = hooks.received("/status")
    for request in statuses:
        assert request.form["CallbackSource"] == "call-progress-events"
        parsedate_to_datetime(request.form["Timestamp"])
    assert "AnsweredBy" not in statuses[0].form
    assert statuses[2].form["AnsweredBy"] == statuses[3].form["AnsweredBy"] == "human"
    completed = statuses[3].form
    assert int(completed["CallDuration"]) == result.duration_s >= 1
    assert completed["Duration"] == "1"
    assert parsedate_to_datetime(completed["Timestamp"]) >= parsedate_to_datetime(
        statuses[0].form["Timestamp"]
    )

    [recording] = hooks.received("/recording")
    assert recording.form["RecordingStatus"] == "completed"
    assert recording.form["CallSid"] == result.sid
    assert recording.form["RecordingSid"] == result.recording_sid
    assert RECORDING_URL.match(recording.form["RecordingUrl"])
    assert recording.form["RecordingUrl"] == result.recording_url
    assert recording.form["RecordingDuration"] == completed["CallDuration"]


async def test_answer_given_in_two_parts(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    heard = conversation(hooks, turns=2)
    result = await play(hooks, http, ScriptedCallee([["I was grateful for", "my sister's call"]]))
    assert heard == ["I was grateful for", "my sister's call"]
    assert result.said == ["Hello Ana.", "What was good today?", "Go on.", "Thank you. Goodbye."]
    assert result.gathers == 2


async def test_silence_posts_action_without_speech_when_asked(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    result = await play(hooks, http, SilentCallee())
    [turn] = hooks.received("/turn")
    assert "SpeechResult" not in turn.form and "Confidence" not in turn.form
    assert result.callee_said == []
    assert result.final_status == "completed"


async def test_silence_without_action_on_empty_result_falls_through(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: (
        '<Response><Gather input="speech" action="/turn" timeout="4">'
        "<Say>Anything?</Say></Gather><Say>I heard nothing.</Say></Response>"
    )
    result = await play(hooks, http, SilentCallee())
    assert hooks.received("/turn") == []
    assert result.said == ["Anything?", "I heard nothing."]
    assert result.ended_by == "service"


async def test_relative_gather_action_and_default_action(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: (
        '<Response><Gather input="speech" action="turn?n=2"><Say>Hi</Say></Gather></Response>'
    )
    hooks.routes["/turn"] = lambda r: '<Response><Gather input="speech"/></Response>'
    result = await play(hooks, http, ScriptedCallee(["one", "two"]))
    turns = hooks.received("/turn")
    # The relative action resolves against the answer URL; a Gather without an action
    # posts to the URL of its own document (here /turn?n=2 again).
    assert [(t.query, t.form["SpeechResult"]) for t in turns] == [("n=2", "one"), ("n=2", "two")]
    assert result.ended_by == "service"  # third Gather: silence, falls through to the end


async def test_redirect_continues_with_the_new_document(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.say_and_redirect(["One moment."], hooks.url("/next"))
    hooks.routes["/next"] = lambda r: "<Response><Redirect>/last?x=1</Redirect></Response>"
    hooks.routes["/last"] = lambda r: twiml.say_and_hangup(["Done."])
    result = await play(hooks, http, SilentCallee())
    assert result.said == ["One moment.", "Done."]
    assert [w.kind for w in result.webhooks if w.kind not in ("status", "recording")] == [
        "answer", "redirect", "redirect",
    ]  # fmt: skip
    assert hooks.received("/last")[0].query == "x=1"
    assert hooks.received("/next")[0].form["CallStatus"] == "in-progress"


async def test_get_method_sends_parameters_in_the_signed_query(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: (
        '<Response><Gather input="speech" action="/turn" method="GET"><Say>Hi</Say></Gather>'
        "</Response>"
    )
    hooks.routes["/turn"] = lambda r: twiml.hangup()
    await play(hooks, http, ScriptedCallee(["hello there"]))
    [turn] = hooks.received("/turn")
    assert turn.method == "GET"
    assert turn.form["SpeechResult"] == "hello there"


async def test_inline_twiml(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    spec = make_spec(hooks, answer_url=None, twiml="<Response><Say>Inline.</Say></Response>")
    result = await play(hooks, http, SilentCallee(), spec)
    assert result.said == ["Inline."]
    assert hooks.received("/answer") == []


# -- hang-ups and outcomes -------------------------------------------------------------------


async def test_callee_hangs_up_mid_call(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    conversation(hooks, turns=5)
    result = await play(hooks, http, HangUpAfter(1, ["first answer"]))
    assert result.final_status == "completed"
    assert result.ended_by == "callee"
    assert result.callee_said == ["first answer"]
    assert len(hooks.received("/turn")) == 1
    completed = hooks.received("/status")[-1].form
    assert completed["CallStatus"] == "completed" and int(completed["CallDuration"]) >= 1
    assert len(hooks.received("/recording")) == 1


@pytest.mark.parametrize(
    ("callee", "statuses"),
    [
        (BusyCallee(), ["initiated", "ringing", "busy"]),
        (NoAnswerCallee(), ["initiated", "ringing", "no-answer"]),
        (FailedCallee(), ["initiated", "failed"]),
    ],
)
async def test_unanswered_outcomes(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient, callee: object, statuses: list[str]
) -> None:
    hooks.routes["/answer"] = lambda r: pytest.fail("an unanswered call fetched TwiML")
    result = await play(hooks, http, callee)
    assert status_pairs(hooks) == list(enumerate(statuses))
    assert result.final_status == statuses[-1]
    assert result.answered_by is None and result.ended_by is None
    final = hooks.received("/status")[-1].form
    assert final["CallDuration"] == "0" and "AnsweredBy" not in final
    assert hooks.received("/recording") == [] and result.recording_sid is None
    assert result.said == []


async def test_voicemail_never_speaks(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    def answer(request: ReceivedWebhook) -> str:
        if request.form["AnsweredBy"].startswith("machine"):
            return twiml.say_and_hangup(["Sorry I missed you, I will call again."])
        return gather("Hello!")

    hooks.routes["/answer"] = answer
    callee = VoicemailCallee()
    result = await play(hooks, http, callee)
    assert hooks.received("/answer")[0].form["AnsweredBy"] == "machine_start"
    assert result.answered_by == "machine_start"
    assert callee.heard == ["Sorry I missed you, I will call again."]
    assert [s for _, s in status_pairs(hooks)] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert hooks.received("/status")[-1].form["AnsweredBy"] == "machine_start"


async def test_voicemail_ignores_any_script_and_hangs_up_eventually(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: gather("Hello?")
    hooks.routes["/turn"] = lambda r: gather("Are you there?")
    callee = VoicemailCallee(max_message_s=60)
    result = await play(hooks, http, callee)
    assert all("SpeechResult" not in r.form for r in hooks.received("/turn"))
    assert result.ended_by == "callee" and result.ok
    # virtual seconds (the player's clock, not the wall's): the callee hangs up at the
    # first turn that ends past its 60 s message
    assert result.duration_s == 66


async def test_detect_message_end_reports_the_beep(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.hangup()
    spec = make_spec(hooks, machine_detection="DetectMessageEnd")
    result = await play(hooks, http, VoicemailCallee(), spec)
    assert result.answered_by == "machine_end_beep"


async def test_without_amd_there_is_no_answered_by(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.hangup()
    await play(hooks, http, SilentCallee(), make_spec(hooks, machine_detection=None))
    assert all("AnsweredBy" not in r.form for r in hooks.received())


async def test_end_from_outside_while_the_callee_thinks(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    listening = asyncio.Event()

    class Thinker(SilentCallee):
        async def respond(self, ctx: GatherContext) -> Silence:
            listening.set()
            await asyncio.sleep(60)
            return Silence()

    player = CallPlayer(
        make_spec(hooks), auth_token=TOKEN, http=http, callee=Thinker(), options=PlayerOptions()
    )
    task = asyncio.create_task(player.play())
    await asyncio.wait_for(listening.wait(), 2)
    player.end()
    result = await asyncio.wait_for(task, 2)
    assert result.final_status == "completed" and result.ended_by == "api"
    assert hooks.statuses()[-1] == "completed"


async def test_end_before_the_call_starts_cancels_it(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    player = CallPlayer(make_spec(hooks), auth_token=TOKEN, http=http, callee=SilentCallee())
    player.end()
    result = await player.play()
    assert result.final_status == "canceled"
    assert status_pairs(hooks) == [(0, "canceled")]


# -- status callback delivery ----------------------------------------------------------------

EXPECTED = [(0, "initiated"), (1, "ringing"), (2, "in-progress"), (3, "completed")]


async def test_duplicated_status_callbacks(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    await play(hooks, http, ScriptedCallee(["fine"]), duplicate_status=True)
    pairs = status_pairs(hooks)
    assert pairs == [p for p in EXPECTED for _ in range(2)]
    requests = hooks.received("/status")
    tokens = [r.headers["i-twilio-idempotency-token"] for r in requests]
    assert tokens[0] == tokens[1] and tokens[1] != tokens[2]


async def test_shuffled_status_callbacks_keep_the_same_set(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    result = await play(hooks, http, ScriptedCallee(["fine"]), shuffle_status=random.Random(7))
    pairs = status_pairs(hooks)
    assert sorted(pairs) == EXPECTED
    assert pairs != EXPECTED  # seed 7 does reorder them
    assert result.webhooks[0].kind == "answer"  # held back until the call ended
    # Recording still comes after every status callback by default.
    assert hooks.requests[-1].path == "/recording"


async def test_status_delivery_hook_controls_the_order(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    seen: list[list[StatusCallback]] = []

    def reverse_and_repeat_first(pending: list[StatusCallback]) -> list[StatusCallback]:
        seen.append(pending)
        return [*reversed(pending), pending[0]]

    await play(hooks, http, ScriptedCallee(["fine"]), status_delivery=reverse_and_repeat_first)
    assert status_pairs(hooks) == [*reversed(EXPECTED), EXPECTED[0]]
    assert [c.status for c in seen[0]] == ["initiated", "ringing", "in-progress", "completed"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), duplicate=st.booleans())
def test_any_delivery_order_delivers_the_same_events(seed: int, duplicate: bool) -> None:
    async def run() -> list[tuple[int, str]]:
        hooks = ScriptedWebhooks(TOKEN)
        conversation(hooks)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hooks.app)) as client:
            await play(
                hooks,
                client,
                ScriptedCallee(["fine"]),
                shuffle_status=random.Random(seed),
                duplicate_status=duplicate,
            )
        return status_pairs(hooks)

    pairs = asyncio.run(run())
    assert sorted(set(pairs)) == EXPECTED
    assert len(pairs) == len(EXPECTED) * (2 if duplicate else 1)


async def test_only_requested_status_events_are_sent(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.hangup()
    spec = make_spec(hooks, status_callback_events=frozenset({"completed"}))
    await play(hooks, http, SilentCallee(), spec)
    assert status_pairs(hooks) == [(0, "completed")]


@pytest.mark.parametrize("before", [False, True])
async def test_recording_callback_order(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient, before: bool
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.say_and_hangup(["Bye."])
    await play(hooks, http, SilentCallee(), recording_before_completed=before)
    tail = [(r.path, r.form.get("CallStatus")) for r in hooks.requests[-2:]]
    expected = [("/status", "completed"), ("/recording", None)]
    assert tail == (expected[::-1] if before else expected)


async def test_no_recording_callback_when_not_recording(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    hooks.routes["/answer"] = lambda r: twiml.hangup()
    result = await play(hooks, http, SilentCallee(), make_spec(hooks, record=False))
    assert hooks.received("/recording") == [] and result.recording_sid is None


async def test_failing_status_callback_is_reported_but_the_call_goes_on(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    hooks.routes["/status"] = lambda r: Response("boom", status_code=500)
    result = await play(hooks, http, ScriptedCallee(["fine"]))
    assert result.callee_said == ["fine"]
    assert {e.code for e in result.errors} == {15003}
    assert not result.application_error


# -- TwiML details ---------------------------------------------------------------------------


async def test_ssml_inside_say_is_spoken_as_plain_text(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    response = VoiceResponse()
    say = response.say("Hello ", voice="Polly.Joanna")
    say.phoneme("Ana", alphabet="ipa", ph="\u02c8\u0251\u02d0n\u0259")  # IPA for "Ana"
    say.prosody(", take your   time.", rate="slow")
    gathered = response.gather(input="speech", action="/turn", action_on_empty_result=True)
    nested = gathered.say("How was ")
    nested.emphasis("today", level="strong")
    nested.break_(time="1s")
    nested.say_as("?", interpret_as="characters")
    hooks.routes["/answer"] = lambda r: str(response.to_xml())
    hooks.routes["/turn"] = lambda r: twiml.hangup()
    result = await play(hooks, http, SilentCallee())
    assert result.said == ["Hello Ana, take your time.", "How was today?"]


async def test_pause_and_say_loop(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    hooks.routes["/answer"] = lambda r: (
        '<Response><Say loop="2">Hi.</Say><Pause length="30"/><Play>https://x.test/a.mp3</Play>'
        "</Response>"
    )
    result = await play(hooks, http, SilentCallee())
    assert result.said == ["Hi.", "Hi."]
    assert result.duration_s >= 30
    assert any("<Play>" in n for n in result.notes)


async def test_record_posts_the_recording(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    hooks.routes["/answer"] = lambda r: (
        '<Response><Record action="/recorded" timeout="3"/><Say>Nothing recorded.</Say></Response>'
    )
    hooks.routes["/recorded"] = lambda r: twiml.say_and_hangup(["Got it."])
    result = await play(hooks, http, ScriptedCallee(["a long message"]))
    [recorded] = hooks.received("/recorded")
    assert RECORDING_URL.match(recorded.form["RecordingUrl"])
    assert int(recorded.form["RecordingDuration"]) >= 1
    assert result.said == ["Got it."]

    hooks.requests.clear()
    result = await play(hooks, http, SilentCallee())
    assert hooks.received("/recorded") == []
    assert result.said == ["Nothing recorded."]


async def test_speech_after_the_gather_timeout_is_lost(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks)
    waited, record_sleep = sleep_recorder()
    callee = ScriptedCallee([Utterance("too late", pause_before_s=9), Utterance("ok", 1.5)])
    hooks.routes["/turn"] = lambda r: (
        twiml.hangup() if "SpeechResult" in r.form else gather("Still there?")
    )
    result = await play(hooks, http, callee, sleep=record_sleep)
    assert waited == [9, 1.5]
    assert [r.form.get("SpeechResult") for r in hooks.received("/turn")] == [None, "ok"]
    assert result.callee_said == ["ok"]
    assert any("too late" in n for n in result.notes)


async def test_a_pace_takes_the_call_at_twilios_speed(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    """pace=1: the greeting is spoken, the answer said, then Twilio waits out speechTimeout."""
    conversation(hooks)
    waited, record_sleep = sleep_recorder()
    callee = ScriptedCallee(["one two three four five"])  # 5 words: 2 s at 2.5 words/s
    await play(hooks, http, callee, sleep=record_sleep, pace=1.0)
    said = [call_model.speaking_s(t) for t in ("Hello Ana.", "What was good today?")]
    # the greeting's two Says, the answer, the 3 s end-of-speech pause, then the goodbye
    goodbye = call_model.speaking_s("Thank you. Goodbye.")
    assert waited == [*said, 2.0, 3.0, goodbye]
    waited.clear()
    await play(hooks, http, ScriptedCallee(["one two three four five"]), sleep=record_sleep)
    assert waited == []  # no pace: as fast as possible


async def test_time_limit_ends_the_call(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    hooks.routes["/answer"] = lambda r: gather("Hello?")
    hooks.routes["/turn"] = lambda r: gather("Hello?")
    result = await play(hooks, http, SilentCallee(), make_spec(hooks, time_limit_s=30))
    assert result.ended_by == "time-limit" and result.final_status == "completed"
    # virtual seconds: the limit is checked before each TwiML verb, so the call ends at
    # the first verb that starts past 30 s
    assert result.duration_s == 33


async def test_loop_guard(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    hooks.routes["/answer"] = lambda r: twiml.redirect(hooks.url("/answer"))
    result = await play(hooks, http, SilentCallee(), max_steps=20)
    assert result.ended_by == "loop-guard"
    assert result.final_status == "completed"
    assert [e.code for e in result.errors] == [None]
    assert "loop guard" in result.errors[0].message
    assert len(hooks.received("/answer")) <= 20


# -- application errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (lambda r: Response("oops", status_code=500), 11200),
        (lambda r: Response("nope", status_code=404), 11200),
        (lambda r: Response("<Response><Say>x</Say>", media_type="application/xml"), 12100),
        (lambda r: Response("<Reply/>", media_type="application/xml"), 12100),
        (lambda r: Response("Hello", media_type="text/plain"), 12300),
        (lambda r: "<Response><Dial>+15550002222</Dial></Response>", 12200),
        (lambda r: "<Response>" + "<Say>la</Say>" * 6000 + "</Response>", 11750),
    ],
)
async def test_bad_turn_response_ends_the_call_with_an_application_error(
    hooks: ScriptedWebhooks,
    http: httpx.AsyncClient,
    reply: Callable[[ReceivedWebhook], object],
    code: int,
) -> None:
    conversation(hooks, turns=3)
    hooks.routes["/turn"] = reply  # type: ignore[assignment]
    callee = ScriptedCallee(["one", "two"])
    result = await play(hooks, http, callee)
    assert [e.code for e in result.errors] == [code]
    assert result.application_error and result.ended_by == "error"
    assert callee.heard[-1] == APPLICATION_ERROR_MESSAGE
    assert result.said == ["Hello Ana.", "What was good today?"]
    assert len(hooks.received("/turn")) == 1 and callee.remaining == 1
    assert result.final_status == "completed"
    assert hooks.statuses()[-1] == "completed"


async def test_unreachable_server(hooks: ScriptedWebhooks) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/answer":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        player = CallPlayer(make_spec(hooks), auth_token=TOKEN, http=client, callee=SilentCallee())
        result = await player.play()
    assert [e.code for e in result.errors] == [11205]
    assert result.final_status == "completed"


# -- callees -------------------------------------------------------------------------------


async def test_interactive_callee(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    heard = conversation(hooks, turns=2)
    callee = InteractiveCallee(response_timeout_s=2)
    callee.say("typed before the call")  # buffered until the first Gather
    task = asyncio.create_task(play(hooks, http, callee))
    events = []
    while (event := await callee.next_event(2)) is not None:
        events.append(event)
        if event.kind == "listen" and event.context and event.context.index == 1:
            callee.say("and then some")
        if event.kind == "ended":
            break
    result = await task
    assert heard == ["typed before the call", "and then some"]
    assert callee.spoken == result.said
    assert [e.kind for e in events] == ["say", "say", "listen", "say", "listen", "say", "ended"]
    assert events[-1].result is result and callee.result is result


async def test_interactive_callee_times_out_into_silence_and_hangs_up(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    conversation(hooks, turns=3)
    callee = InteractiveCallee(response_timeout_s=0.05)
    task = asyncio.create_task(play(hooks, http, callee))
    while callee.listening is None or callee.listening.index < 1:
        await asyncio.sleep(0.01)
    callee.hang_up()
    result = await task
    assert [r.form.get("SpeechResult") for r in hooks.received("/turn")] == [None]
    assert result.ended_by == "callee"


async def test_interactive_pick_up(hooks: ScriptedWebhooks, http: httpx.AsyncClient) -> None:
    hooks.routes["/answer"] = lambda r: twiml.hangup()
    declined = InteractiveCallee(wait_for_pickup=True)
    declined.decline("busy")
    assert (await play(hooks, http, declined)).final_status == "busy"

    unanswered = InteractiveCallee(wait_for_pickup=True)
    spec = make_spec(hooks, ring_timeout_s=0.05)
    assert (await play(hooks, http, unanswered, spec)).final_status == "no-answer"

    answered = InteractiveCallee(wait_for_pickup=True)
    task = asyncio.create_task(play(hooks, http, answered))
    while not answered.events_seen:
        await asyncio.sleep(0.01)
    assert answered.events_seen[0].kind == "ring"
    answered.answer()
    assert (await task).final_status == "completed"


async def test_interactive_callee_accepts_input_from_another_thread(
    hooks: ScriptedWebhooks, http: httpx.AsyncClient
) -> None:
    heard = conversation(hooks)
    callee = InteractiveCallee(response_timeout_s=2)
    task = asyncio.create_task(play(hooks, http, callee))
    while callee.listening is None:
        await asyncio.sleep(0.01)
    await asyncio.to_thread(callee.say, "from the UI thread")
    await task
    assert heard == ["from the UI thread"]


def test_scripted_callee_script() -> None:
    callee = ScriptedCallee(["a", ["b1", "b2"], Silence(), HangUp()], pause_before_s=0.5)
    assert list(callee.script) == [
        Utterance("a", 0.5), Utterance("b1", 0.5, more=True), Utterance("b2", 0.5),
        Silence(), HangUp(),
    ]  # fmt: skip
    assert list(HangUpAfter(2, ["x"]).script) == [Utterance("x"), Silence()]
    assert not HangUpAfter(0).script
    with pytest.raises(ValueError):
        ScriptedCallee(outcome="maybe")


def test_spec_from_rest_params() -> None:
    spec = CallSpec.from_rest_params(
        {"To": ["+14155550100"], "From": ["+15550001111"], "Url": ["https://s.test/a"]},
        sid="CA" + "0" * 32,
        account_sid="AC" + "0" * 32,
    )
    assert spec.status_callback_events == {"completed"}  # Twilio's default
    assert not spec.record and spec.machine_detection is None
    full = CallSpec.from_rest_params(
        {
            "To": "+1",
            "From": "+2",
            "Url": "u",
            "StatusCallbackEvent": ["initiated ringing", "answered"],
            "Record": "true",
            "MachineDetection": "Enable",
            "Timeout": "30",
            "TimeLimit": "900",
        },
        sid="CA" + "0" * 32,
        account_sid="AC" + "0" * 32,
    )
    assert full.status_callback_events == {"initiated", "ringing", "answered"}
    assert full.record and full.amd and full.ring_timeout_s == 30 and full.time_limit_s == 900
