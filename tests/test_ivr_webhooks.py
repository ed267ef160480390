"""The voice line end to end, per provider: the providers' exact parameter sets in, the exact XML out,
and the rows written. One table of steps (a first call dropped mid-lesson, then a second call that
resumes, completes the lesson, hears its progress and opts out) runs over Twilio, Africa's Talking and
Somleng (the Twilio provider with TWILIO_COMPATIBLE=somleng, fed Somleng's own parameters and signature:
tests/somleng_support.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from core.db import db
from core.vocabulary import CallStatus, Direction
from ivr.audio import transliterate_for_tts
from ivr.models import CallSession
from ivr.prompts import prompt
from listeners.models import LessonProgress, Listener, ProgressStatus, QuizAnswer
from tests import somleng_support as s
from tests import voice_support as w


def P(key: str, lang: str = "fr", **params: Any) -> str:
    text = prompt(key).text(lang).format(**params)
    return transliterate_for_tts(text) if lang == "bm" else text


@dataclass
class Wire:
    """How one provider's requests and answers look. Like the provider, it posts each key to the URL the
    previous answer rendered, with its turn number ``t``."""

    name: str
    turns: dict[int, int] = field(default_factory=dict)  # call -> requests answered so far

    def sid(self, call: int) -> str:
        return {"twilio": f"CA{call:032d}", "somleng": s.call_sid(call)}.get(self.name, f"ATVId_{call}")

    def start(self, client, call: int):
        self.turns[call] = 1
        if self.name == "twilio":
            return w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call(CallSid=self.sid(call)))
        if self.name == "somleng":
            return s.post(client, "/ivr/twilio/voice", s.voice(self.sid(call)))
        return client.post(w.AT_URL, data=w.at_call(sessionId=self.sid(call)))

    def key(self, client, call: int, digits: str | None):
        turn = self.turns[call]
        self.turns[call] = turn + 1
        path = f"/ivr/twilio/voice?ev=gather&t={turn}"
        if self.name == "twilio":
            return w.post_twilio(client, path, w.twilio_gather(digits) | {"CallSid": self.sid(call)})
        if self.name == "somleng":
            return s.post(client, path, s.voice(self.sid(call), status="in-progress", digits=digits))
        params = w.at_call(sessionId=self.sid(call))
        if digits is not None:
            params["dtmfDigits"] = digits
        return client.post(f"{w.AT_URL}?ev=digits&t={turn}", data=params)

    def final(self, client, call: int):
        if self.name == "twilio":
            params = w.twilio_status("completed") | {"CallSid": self.sid(call)}
            return w.post_twilio(client, "/ivr/twilio/status", params)
        if self.name == "somleng":
            return s.post(client, "/ivr/twilio/status", s.call_status(self.sid(call), "completed"))
        return client.post(w.AT_URL, data=w.at_final() | {"sessionId": self.sid(call)})

    def gather(self, *texts: str, call: int = 1) -> str:
        turn = self.turns[call]
        if self.name == "africastalking":
            return w.at_gather(*texts, turn=turn)
        return w.twiml_gather(*texts, turn=turn, voice=self.voice)

    def hangup(self, *texts: str) -> str:
        return w.at_end(*texts) if self.name == "africastalking" else w.twiml_hangup(*texts, voice=self.voice)

    @property
    def voice(self) -> str | None:
        """Twilio's French voice; Somleng is given the language only."""
        return None if self.name == "somleng" else "Polly.Lea"

    @property
    def empty(self) -> str:
        return w.AT_EMPTY if self.name == "africastalking" else w.TWIML_EMPTY

    @property
    def duration(self) -> int:
        return {"twilio": 47, "somleng": 52}.get(self.name, 39)


def _listener() -> Listener:
    return db.session.scalars(select(Listener).filter_by(phone=w.CALLER)).one()


def _progress() -> LessonProgress:
    return db.session.scalars(select(LessonProgress)).one()


def _bookmark(*keys: str) -> tuple:
    return tuple(_progress().bookmark[key] for key in keys)


def _session(wire: Wire, call: int) -> CallSession:
    return db.session.scalars(select(CallSession).filter_by(provider_call_id=wire.sid(call))).one()


def _steps(catalog):
    course = catalog.course("child-labour")
    lesson = course.lesson("what-is-child-labour")
    chunk, awa, moussa = lesson.items
    fr = lambda localized: localized.text("fr")  # noqa: E731
    main = [P("menu-main")]
    language_menu = [P("language-menu", "bm"), P("language-menu")]
    score = P("lesson-score", score=1, total=2)
    progress = P("progress", completed=1, lessons=_lessons(catalog), score=1, total=2)
    opted_out = lambda: _listener().opted_out and _listener().opted_out_channel == "voice"  # noqa: E731
    lessons_menu = [fr(course.title), P("lessons-intro"), fr(lesson.title), P("press-1"), P("menu-keys")]
    lessons_done = [fr(course.title), P("lessons-intro"), P("lesson-done-mark"), fr(lesson.title), P("press-1"),
                    P("menu-keys")]  # fmt: skip
    courses_menu = [P("courses-intro")]
    for n, c in enumerate(catalog, start=1):
        courses_menu += [fr(c.title), P(f"press-{n}")]
    courses_menu.append(P("menu-keys"))
    # (call, action, digits, expected answer: (kind, texts), check of the database)
    return [
        (1, "start", None, ("gather", language_menu), lambda: _listener().language is None),
        (1, "key", "2", ("gather", [P("language-set"), *main]), lambda: _listener().language == "fr"),
        (1, "key", "2", ("gather", courses_menu), None),
        (1, "key", str(list(catalog).index(course) + 1), ("gather", lessons_menu), None),
        (
            1, "key", "1", ("gather", [fr(lesson.title), fr(chunk.body), P("chunk-help"), P("chunk-cue")]),
            lambda: _progress().status == ProgressStatus.IN_PROGRESS and _progress().bookmark["index"] == 0,
        ),
        (1, "key", "*", ("gather", [fr(chunk.body), P("chunk-help"), P("chunk-cue")]),
         lambda: _progress().bookmark["index"] == 0),
        # a key that does nothing at a chunk: the cue again (never a prompt-less answer)
        (1, "key", "5", ("gather", [P("chunk-cue")]), lambda: _bookmark("index", "misses") == (0, 1)),
        (1, "key", "1", ("gather", [fr(awa.prompt)]), lambda: _progress().bookmark["index"] == 1),
        (
            1, "key", "2", ("gather", [fr(awa.feedback_wrong), fr(moussa.prompt)]),
            lambda: [(a.question_id, a.correct) for a in db.session.scalars(select(QuizAnswer))] == [(awa.id, False)],
        ),
        (1, "key", "7", ("gather", [P("invalid-key"), fr(moussa.prompt)]), lambda: _progress().bookmark["misses"] == 1),
        (1, "key", None, ("gather", [P("no-input"), fr(moussa.prompt)]), lambda: _progress().bookmark["misses"] == 2),
        (1, "key", "0", ("gather", [fr(awa.prompt)]), lambda: _progress().bookmark["index"] == 1),
        (1, "key", "1", ("gather", [fr(awa.feedback_correct), fr(moussa.prompt)]), None),
        # the caller hangs up mid-lesson: the final status leaves the bookmark where it was
        (1, "final", None, ("empty", []), lambda: _progress().bookmark["index"] == 2),
        (2, "start", None, ("gather", [P("welcome-back"), P("menu-resume"), *main]), None),
        (2, "key", "1", ("gather", [fr(lesson.title), P("lesson-resumed"), fr(moussa.prompt)]), None),
        (
            2, "key", "2",
            ("gather", [fr(moussa.feedback_correct), score, P("lesson-end-next-course"), P("lesson-end-keys")]),
            lambda: (_progress().status, _progress().score, _progress().total) == (ProgressStatus.COMPLETED, 1, 2),
        ),
        (2, "key", "2", ("gather", lessons_done), None),
        (2, "key", "0", ("gather", courses_menu), None),
        (2, "key", "0", ("gather", main), None),
        (2, "key", "3", ("gather", [progress, *main]), None),
        (2, "key", "9", ("gather", [P("opt-out-confirm")]), lambda: not _listener().opted_out),
        (2, "key", "5", ("gather", main), lambda: not _listener().opted_out),
        (2, "key", "9", ("gather", [P("opt-out-confirm")]), None),
        (2, "key", "9", ("hangup", [P("opted-out")]), opted_out),
        (2, "final", None, ("empty", []), None),
    ]  # fmt: skip


def _lessons(catalog) -> int:
    return sum(len(c.lessons) for c in catalog)


@pytest.mark.parametrize("provider", ["twilio", "africastalking", "somleng"])
def test_a_dropped_call_resumes_and_the_lesson_completes(provider, backend, client, catalog, clock):
    wire = Wire(provider)
    for n, (call, action, digits, (kind, texts), check) in enumerate(_steps(catalog)):
        if action == "start":
            response = wire.start(client, call)
        elif action == "key":
            response = wire.key(client, call, digits)
        else:
            response = wire.final(client, call)
        assert response.status_code == 200, n
        assert response.mimetype == "text/xml"
        if kind == "gather":
            expected = wire.gather(*texts, call=call)
        else:
            expected = wire.hangup(*texts) if kind == "hangup" else wire.empty
        assert response.get_data(as_text=True) == expected, f"step {n}: {action} {digits}"
        if check is not None:
            assert check(), f"step {n}: database check"

    first, second = _session(wire, 1), _session(wire, 2)
    assert (first.status, first.direction, first.duration_seconds) == (
        CallStatus.COMPLETED,
        Direction.INBOUND,
        wire.duration,
    )
    assert [node for _, node in first.path] == [
        "language", "lang:fr", "main", "courses", "lessons", "lesson", "lesson:child-labour/what-is-child-labour",
        "chunk:1/1", "chunk:1/1", "!invalid", "!invalid", "!timeout", "hangup",
    ]  # fmt: skip
    assert [node for _, node in second.path] == [
        "main", "lesson", "lesson:child-labour/what-is-child-labour", "done:1/2", "lesson_end", "lessons", "courses",
        "main", "main", "opt_out_confirm", "main",
        "opt_out_confirm", "opted_out", "hangup",
    ]  # fmt: skip
    assert (second.status, second.duration_seconds) == (CallStatus.COMPLETED, wire.duration)
    assert all(at == w_now for at, _ in first.path for w_now in [clock.now.isoformat()])
    if provider == "africastalking":
        assert (float(first.cost), first.currency, first.provider_status) == (
            147.44,
            "XOF",
            "Completed/NORMAL_CLEARING",
        )


@pytest.mark.parametrize("provider", ["twilio", "africastalking", "somleng"])
def test_three_misses_in_a_menu_say_goodbye(provider, client, clock):
    wire = Wire(provider)
    wire.start(client, 1)
    assert wire.key(client, 1, None).get_data(as_text=True) == wire.gather(
        P("no-input"), P("language-menu", "bm"), P("language-menu")
    )
    assert wire.key(client, 1, "7").get_data(as_text=True) == wire.gather(
        P("invalid-key"), P("language-menu", "bm"), P("language-menu")
    )
    assert wire.key(client, 1, None).get_data(as_text=True) == wire.hangup(P("no-input"), P("goodbye"))
    assert [node for _, node in _session(wire, 1).path] == ["language", "!timeout", "!invalid", "!timeout", "goodbye"]


def test_bambara_caller_hears_transliterated_bambara_on_twilio(client, catalog, clock):
    wire = Wire("twilio")
    wire.start(client, 1)
    body = wire.key(client, 1, "1").get_data(as_text=True)
    assert body == w.twiml_gather(P("language-set", "bm"), P("menu-main", "bm"), turn=2)
    assert "ɛ" not in body and "è" in body
    assert _listener().language == "bm"


@pytest.mark.parametrize("provider", ["twilio", "africastalking", "somleng"])
def test_after_the_last_lesson_of_a_course_1_starts_the_next_course(provider, client, catalog, clock):
    wire = Wire(provider)
    labour, money = catalog.course("child-labour"), catalog.course("money")
    fr = lambda localized: localized.text("fr")  # noqa: E731
    wire.start(client, 1)
    # French, courses, the course, its lesson, continue, Awa (right)
    for key in ("2", "2", str(list(catalog).index(labour) + 1), "1", "1", "1"):
        wire.key(client, 1, key)
    moussa = labour.lessons[0].items[2]
    body = wire.key(client, 1, "2").get_data(as_text=True)  # Moussa: the right answer, the lesson is over
    score = P("lesson-score", score=2, total=2)
    assert body == wire.gather(fr(moussa.feedback_correct), score, P("lesson-end-next-course"), P("lesson-end-keys"))
    body = wire.key(client, 1, "1").get_data(as_text=True)
    first = money.lessons[0]
    assert body == wire.gather(fr(first.title), fr(first.items[0].body), P("chunk-help"), P("chunk-cue"))
    progress = db.session.scalars(select(LessonProgress).filter_by(course_id="money")).one()
    assert (progress.lesson_id, progress.status) == (first.id, ProgressStatus.IN_PROGRESS)
    path = [node for _, node in _session(wire, 1).path]
    assert path == [
        "language", "lang:fr", "main", "courses", "lessons", "lesson", "lesson:child-labour/what-is-child-labour",
        "chunk:1/1", "done:2/2", "lesson_end", "lesson", "lesson:money/saving-a-little", "chunk:1/1",
    ]  # fmt: skip


@pytest.mark.parametrize("provider", ["twilio", "africastalking", "somleng"])
def test_the_opt_out_question_in_bambara(provider, client, clock):
    """A Bambara caller hears the question in Bambara (transliterated for the fallback voice); 0 goes back."""
    wire = Wire(provider)
    wire.start(client, 1)
    wire.key(client, 1, "1")
    body = wire.key(client, 1, "9").get_data(as_text=True)
    assert body == wire.gather(P("opt-out-confirm", "bm"))
    assert wire.key(client, 1, "0").get_data(as_text=True) == wire.gather(P("menu-main", "bm"))
    assert not _listener().opted_out


def test_a_timeout_falls_through_to_the_redirect_on_twilio(client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    response = w.post_twilio(client, "/ivr/twilio/voice?ev=timeout&t=1", w.twilio_call(CallStatus="in-progress"))
    assert response.get_data(as_text=True) == w.twiml_gather(
        P("no-input"), P("language-menu", "bm"), P("language-menu"), turn=2
    )


def test_twilio_gather_with_empty_digits_is_a_timeout(client, clock):
    w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    response = w.post_twilio(client, "/ivr/twilio/voice?ev=gather&t=1", w.twilio_gather(""))
    assert response.get_data(as_text=True) == w.twiml_gather(
        P("no-input"), P("language-menu", "bm"), P("language-menu"), turn=2
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ivr/twilio/voice?ev=gather", w.twilio_gather("1")),  # keys for a call we never saw
        ("/ivr/twilio/voice", {"AccountSid": w.ACCOUNT_SID}),  # no CallSid
        ("/ivr/twilio/voice", w.twilio_call(From="not-a-number")),  # junk caller
        ("/ivr/twilio/voice", w.twilio_call(Direction="sideways")),
        ("/ivr/twilio/status", w.twilio_call(CallStatus="exploded")),
    ],
)
def test_twilio_surprises_end_politely(path, params, client, clock):
    response = w.post_twilio(client, path, params)
    assert response.status_code == 200
    expected = w.TWIML_EMPTY if "status" in path else w.twiml_hangup(P("sorry"))
    assert response.get_data(as_text=True) == expected
    assert db.session.scalars(select(CallSession)).all() == []


@pytest.mark.parametrize(
    "params",
    [
        w.at_call(dtmfDigits="1", sessionId="ATVId_unknown"),
        {"isActive": "1"},
        w.at_call(isActive="maybe"),
        w.at_call(direction="Sideways"),
        w.at_call(callerNumber="junk"),
    ],
)
def test_at_surprises_end_politely(params, client, clock):
    response = client.post(w.AT_URL, data=params)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == w.at_end(P("sorry"))
    assert db.session.scalars(select(CallSession)).all() == []


def test_a_database_hiccup_still_answers_xml(client, clock, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import ivr.service

    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ivr.service, "load_session", broken)
    response = w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
    assert response.status_code == 200
    assert response.get_data(as_text=True) == w.twiml_hangup(P("sorry"))
    response = client.post(w.AT_URL, data=w.at_call())
    assert response.get_data(as_text=True) == w.at_end(P("sorry"))


def test_at_final_notification_with_a_literal_plus_and_encoded_plus(client, clock):
    client.post(w.AT_URL, data=w.at_call())
    for start in ("2025-11-24+10:00:00", "2025-11-24 10:00:00"):
        response = client.post(w.AT_URL, data=w.at_final() | {"callStartTime": start})
        assert response.get_data(as_text=True) == w.AT_EMPTY
    session = db.session.scalars(select(CallSession)).one()
    assert (session.status, session.duration_seconds) == (CallStatus.COMPLETED, 39)
    assert [node for _, node in session.path].count("hangup") == 1  # the second notification changes nothing


def test_call_finished_is_sent_once(backend, client, clock):
    from core.signals import call_finished

    seen = []

    def receiver(sender, now):
        seen.append((sender.id, sender.status, now))

    call_finished.connect(receiver)
    try:
        w.post_twilio(client, "/ivr/twilio/voice", w.twilio_call())
        w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed"))
        w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("in-progress"))  # late, out of order
        w.post_twilio(client, "/ivr/twilio/status", w.twilio_status("completed"))
    finally:
        call_finished.disconnect(receiver)
    assert len(seen) == 1 and seen[0][1] == CallStatus.COMPLETED and seen[0][2] == clock.now
    assert db.session.scalars(select(CallSession)).one().status == CallStatus.COMPLETED


def test_a_twilio_retry_gets_the_same_answer_and_advances_nothing(backend, client, clock):
    """Twilio may send a request again (its idempotency token is then the same): answering it twice
    must not move the caller on twice."""
    from tests.voice_support import post_twilio, twilio_call, twilio_gather

    post_twilio(client, "/ivr/twilio/voice", twilio_call(), headers={"I-Twilio-Idempotency-Token": "tok-1"})
    first = post_twilio(
        client, "/ivr/twilio/voice?ev=gather", twilio_gather("2"), headers={"I-Twilio-Idempotency-Token": "tok-2"}
    )
    session = db.session.scalars(select(CallSession)).one()
    path_after_first = list(session.path)
    retried = post_twilio(
        client, "/ivr/twilio/voice?ev=gather", twilio_gather("2"), headers={"I-Twilio-Idempotency-Token": "tok-2"}
    )
    assert retried.status_code == 200 and retried.get_data(as_text=True) == first.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(CallSession)).one().path == path_after_first  # nothing visited twice
    third = post_twilio(
        client, "/ivr/twilio/voice?ev=gather", twilio_gather("1"), headers={"I-Twilio-Idempotency-Token": "tok-3"}
    )
    assert third.get_data(as_text=True) != first.get_data(as_text=True)  # a new request moves on


# --- call status truth: a call the line ended is completed once the provider's final status arrives ----------


class Phone:
    """One call by one provider's exact parameters: start, keys (None = silence), then the final status."""

    def __init__(self, provider: str, client):
        self.provider, self.client, self.turn = provider, client, 0
        self.sid = {"twilio": w.CALL_SID, "africastalking": w.AT_SESSION, "somleng": s.call_sid(1)}.get(provider, "")

    def start(self) -> None:
        self.turn = 1
        if self.provider == "twilio":
            w.post_twilio(self.client, "/ivr/twilio/voice", w.twilio_call())
        elif self.provider == "somleng":
            s.post(self.client, "/ivr/twilio/voice", s.voice(self.sid))
        elif self.provider == "africastalking":
            self.client.post(w.AT_URL, data=w.at_call())
        else:
            self.sid = self.client.post("/simulator/voice", json={"action": "dial", "phone": w.CALLER}).json["call"]

    def key(self, digits: str | None) -> bool:
        """Press ``digits`` (None: a silence); True when the answer listens for another key."""
        turn, self.turn = self.turn, self.turn + 1
        if self.provider == "twilio":
            body = w.post_twilio(self.client, f"/ivr/twilio/voice?ev=gather&t={turn}", w.twilio_gather(digits)).text
            return "<Gather" in body
        if self.provider == "somleng":
            params = s.voice(self.sid, status="in-progress", digits=digits)
            return "<Gather" in s.post(self.client, f"/ivr/twilio/voice?ev=gather&t={turn}", params).text
        if self.provider == "africastalking":
            if digits is None:
                body = self.client.post(f"{w.AT_URL}?ev=timeout&t={turn}", data=w.at_call()).text
            else:
                body = self.client.post(f"{w.AT_URL}?ev=digits&t={turn}", data=w.at_call(dtmfDigits=digits)).text
            return "<GetDigits" in body
        action = {"action": "key", "digits": digits} if digits is not None else {"action": "timeout"}
        answer = self.client.post(
            "/simulator/voice", json={**action, "phone": w.CALLER, "call": self.sid, "turn": str(turn)}
        ).json
        return answer["listen"]

    def final(self):
        if self.provider == "twilio":
            return w.post_twilio(self.client, "/ivr/twilio/status", w.twilio_status("completed"))
        if self.provider == "somleng":
            return s.post(self.client, "/ivr/twilio/status", s.call_status(self.sid, "completed"))
        if self.provider == "africastalking":
            return self.client.post(w.AT_URL, data=w.at_final())
        return self.client.post("/simulator/voice", json={"action": "hangup", "phone": w.CALLER, "call": self.sid})


FINAL_DURATION = {"twilio": 47, "africastalking": 39, "somleng": 52, "local": None}  # the local provider reports none
LINE_ENDINGS = {
    # the line says goodbye after three silences at the first menu
    "goodbye": ([None, None, None], ["language", "!timeout", "!timeout", "!timeout", "goodbye", "hangup"]),
    # a confirmed opt-out: language, 9, 9 again
    "opted_out": (["2", "9", "9"], ["language", "lang:fr", "main", "opt_out_confirm", "opted_out", "hangup"]),
    # three silences at a lesson's question: the engine ends the lesson, the line says goodbye
    "lesson_no_input": (
        ["2", "2", "1", "1", "1", None, None, None],
        [
            "language",
            "lang:fr",
            "main",
            "courses",
            "lessons",
            "lesson",
            "lesson:child-labour/what-is-child-labour",
            "chunk:1/1",
            "!timeout",
            "!timeout",
            "!timeout",
            "goodbye",
            "hangup",
        ],
    ),
}


@pytest.mark.parametrize("ending", sorted(LINE_ENDINGS))
@pytest.mark.parametrize("provider", ["twilio", "africastalking", "somleng", "local"])
def test_a_call_the_line_ended_is_completed_by_the_final_status(provider, ending, client, clock):
    from core.signals import call_finished

    keys, path = LINE_ENDINGS[ending]
    finished = []

    def receiver(sender, now):
        finished.append((sender.id, sender.status))

    phone = Phone(provider, client)
    phone.start()
    listening = [phone.key(digits) for digits in keys]
    assert listening == [True] * (len(keys) - 1) + [False]  # the line hangs up after the last one
    session = db.session.scalars(select(CallSession)).one()
    assert session.status == CallStatus.IN_PROGRESS  # the line hung up; the provider has not said so yet
    call_finished.connect(receiver)
    try:
        answer = phone.final()
        phone.final()  # a second final notification changes nothing
    finally:
        call_finished.disconnect(receiver)
    assert answer.status_code == 200
    db.session.expire_all()
    session = db.session.scalars(select(CallSession)).one()
    assert (session.status, session.duration_seconds, session.ended_at) == (
        CallStatus.COMPLETED, FINAL_DURATION[provider], clock.now,
    )  # fmt: skip
    assert [node for _, node in session.path] == path
    assert finished == [(session.id, CallStatus.COMPLETED)]
    assert _listener().opted_out is (ending == "opted_out")


def test_an_africastalking_campaign_call_the_line_ended_is_completed_by_the_final_request(client, catalog, clock):
    """An outbound lesson call on Africa's Talking (correlated by sessionId): the lesson, the campaign menu, 9 and
    9 again; the line hangs up; AT's final ``isActive=0`` request (``direction=Outbound``) completes the record."""
    from core.signals import call_finished
    from ivr.outbound import start_call

    listener = Listener(phone=w.CALLER, language="fr", created_at=clock.now)
    db.session.add(listener)
    db.session.flush()
    lesson = catalog.course("child-labour").lessons[0]
    entry = {"entry": "lesson", "course_id": "child-labour", "lesson_id": lesson.id}
    session = start_call(listener, entry, clock.now, provider="africastalking")
    session.provider_call_id = "ATVId_out"  # what the sender stores from AT's answer to the call request
    db.session.commit()
    call = {"sessionId": "ATVId_out", "direction": "Outbound"}
    finished = []

    def receiver(sender, now):
        finished.append((sender.id, sender.status))

    client.post(w.AT_URL, data=w.at_call(**call))
    for turn, key in enumerate(("1", "1", "2", "9"), start=1):  # continue, Awa, Moussa, 9 at the campaign menu
        body = client.post(f"{w.AT_URL}?ev=digits&t={turn}", data=w.at_call(dtmfDigits=key, **call)).text
    assert body == w.at_gather(P("opt-out-confirm"), turn=5)
    body = client.post(f"{w.AT_URL}?ev=digits&t=5", data=w.at_call(dtmfDigits="9", **call)).text
    assert body == w.at_end(P("opted-out"))
    call_finished.connect(receiver)
    try:
        answer = client.post(w.AT_URL, data=w.at_final(**call))
    finally:
        call_finished.disconnect(receiver)
    assert answer.text == w.AT_EMPTY
    db.session.expire_all()
    done = db.session.get(CallSession, session.id)
    assert (done.status, done.duration_seconds, float(done.cost), done.currency) == (
        CallStatus.COMPLETED, 39, 147.44, "XOF",
    )  # fmt: skip
    assert [node for _, node in done.path] == [
        "queued", "lesson", "lesson:child-labour/what-is-child-labour", "chunk:1/1", "done:2/2", "campaign_end",
        "opt_out_confirm", "opted_out", "hangup",
    ]  # fmt: skip
    assert finished == [(session.id, CallStatus.COMPLETED)] and _listener().opted_out
