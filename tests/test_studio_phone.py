"""The phone studio (ivr/studio.py, ivr/studio_fetch.py): an editor records a Bambara text by phone through
Twilio-shaped and Africa's-Talking-shaped webhooks (exact parameter names, signed Twilio requests), the take is
fetched after the call from a fake recording server (``responses``), and the next Bambara call plays it."""

from __future__ import annotations

import hashlib
import logging
import shutil
from contextlib import nullcontext
from datetime import UTC, datetime
from html import escape

import pytest
import responses
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts.roles import Role
from core.db import db
from core.vocabulary import CallStatus
from ivr.audio import fallback_counts, transliterate_for_tts
from ivr.models import CallSession, StudioTake, TakeStatus
from ivr.prompts import prompt
from ivr.studio_fetch import MAX_ATTEMPTS, fetch_pending
from studio.models import AudioFallback, Recording, RecordingSource
from studio.service import set_pin, studio_texts
from tests import voice_support as w
from tests.storage_support import BUCKET, PREFIX, keys, object_storage
from tests.test_studio_service import tone

EDITOR = "+22376000111"
PIN = "2468"
STEM = "prompts/language-menu"  # what a new listener hears first, in Bambara without its recording
TW_RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{'AC' + '0' * 32}/Recordings/RE{'b' * 32}"
TW_SID = "RE" + "b" * 32
AT_RECORDING = "https://voice.africastalking.com/recordings/ATVId_7.mp3"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def P(key: str, lang: str = "fr", **params) -> str:
    text = prompt(key).text(lang).format(**params)
    return transliterate_for_tts(text) if lang == "bm" else text


@pytest.fixture
def editor(app, make_user):
    user = make_user(Role.EDITOR, phone=EDITOR)
    set_pin(user, PIN)
    db.session.commit()
    return user


class Phone:
    """One provider's side of a call: each request goes to the URL the previous answer rendered (with ``t``)."""

    def __init__(self, provider: str, client, caller: str, call_id: str):
        self.provider, self.client, self.caller, self.call_id = provider, client, caller, call_id
        self.turn = 0

    def _twilio(self, query: str, **params: str):
        base = w.twilio_call(CallSid=self.call_id, From=self.caller, Caller=self.caller)
        return w.post_twilio(self.client, f"/ivr/twilio/voice{query}", base | params)

    def _at(self, query: str, **params: str):
        base = w.at_call(sessionId=self.call_id, callerNumber=self.caller)
        return self.client.post(f"{w.AT_URL}{query}", data=base | params)

    def start(self) -> str:
        self.turn = 1
        answer = self._twilio("") if self.provider == "twilio" else self._at("")
        return _ok(answer)

    def key(self, digits: str | None, *, turn: int | None = None) -> str:
        t = turn or self.turn
        self.turn = t + 1
        if self.provider == "twilio":
            extra = {"CallStatus": "in-progress", "FinishedOnKey": ""} | (
                {"Digits": digits} if digits is not None else {}
            )
            return _ok(self._twilio(f"?ev=gather&t={t}", **extra))
        return _ok(self._at(f"?ev=digits&t={t}", **({"dtmfDigits": digits} if digits is not None else {})))

    def recorded(self) -> str:
        t = self.turn
        self.turn = t + 1
        if self.provider == "twilio":
            return _ok(self._twilio(
                f"?ev=record&t={t}", CallStatus="in-progress", RecordingUrl=TW_RECORDING, RecordingSid=TW_SID,
                RecordingDuration="3", Digits="#",
            ))  # fmt: skip
        return _ok(self._at(f"?ev=record&t={t}", recordingUrl=AT_RECORDING))

    def nothing(self) -> str:
        """Nothing was recorded: Twilio follows the Redirect after <Record>; Africa's Talking posts no recording."""
        t = self.turn
        self.turn = t + 1
        if self.provider == "twilio":
            return _ok(self._twilio(f"?ev=timeout&t={t}", CallStatus="in-progress"))
        return _ok(self._at(f"?ev=record&t={t}", recordingUrl=""))

    def final(self) -> str:
        if self.provider == "twilio":
            params = w.twilio_status("completed") | {"CallSid": self.call_id, "From": self.caller}
            return _ok(w.post_twilio(self.client, "/ivr/twilio/status", params))
        return _ok(self.client.post(w.AT_URL, data=w.at_final(sessionId=self.call_id, callerNumber=self.caller)))

    # the XML expected, written out independently of the renderers
    def say(self, text: str, lang: str = "fr") -> str:
        text = transliterate_for_tts(text) if lang == "bm" else text
        return w.say(text) if self.provider == "twilio" else w.at_say(text)

    def play(self, url: str) -> str:
        return f"<Play>{escape(url)}</Play>" if self.provider == "twilio" else f'<Play url="{escape(url)}" />'

    def gather(self, inner: str, *, pin: bool = False, timeout: str = "8") -> str:
        t = self.turn
        digits, timeout = ("9", "10") if pin else ("1", timeout)
        if self.provider == "twilio":
            key = "#" if pin else ""
            return (
                f'{w.XML_HEAD}<Response><Gather action="{w.BASE}/ivr/twilio/voice?ev=gather&amp;t={t}" '
                f'actionOnEmptyResult="true" finishOnKey="{key}" input="dtmf" method="POST" numDigits="{digits}" '
                f'timeout="{timeout}">{inner}</Gather>'
                f'<Redirect method="POST">{w.BASE}/ivr/twilio/voice?ev=timeout&amp;t={t}</Redirect></Response>'
            )
        url = f"{w.BASE}{w.AT_URL}"
        return (
            f'{w.XML_HEAD}<Response><GetDigits timeout="{timeout}" numDigits="{digits}" finishOnKey="#" '
            f'callbackUrl="{url}?ev=digits&amp;t={t}">{inner}</GetDigits>'
            f"<Redirect>{url}?ev=timeout&amp;t={t}</Redirect></Response>"
        )

    def record(self, inner: str) -> str:
        t = self.turn
        if self.provider == "twilio":
            return (
                f'{w.XML_HEAD}<Response>{inner}<Record action="{w.BASE}/ivr/twilio/voice?ev=record&amp;t={t}" '
                f'finishOnKey="#" maxLength="120" method="POST" playBeep="true" timeout="10" trim="trim-silence" />'
                f'<Redirect method="POST">{w.BASE}/ivr/twilio/voice?ev=timeout&amp;t={t}</Redirect></Response>'
            )
        url = f"{w.BASE}{w.AT_URL}"
        return (
            f'{w.XML_HEAD}<Response><Record finishOnKey="#" maxLength="120" trimSilence="true" playBeep="true" '
            f'callbackUrl="{url}?ev=record&amp;t={t}">{inner}</Record></Response>'
        )

    def hangup(self, inner: str) -> str:
        if self.provider == "twilio":
            return f"{w.XML_HEAD}<Response>{inner}<Hangup /></Response>"
        return f"{w.XML_HEAD}<Response>{inner}</Response>"


def _ok(answer) -> str:
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def _sid(n: int, provider: str) -> str:
    return f"CA{n:032d}" if provider == "twilio" else f"ATVId_{n}"


PROVIDERS = ["twilio", "africastalking"]


def stored(s3) -> bytes:
    """The one object in the bucket."""
    return s3.get_object(Bucket=BUCKET, Key=keys(s3)[0])["Body"].read()


def _language_menu(phone: Phone, bm_url: str | None) -> str:
    bm = phone.play(bm_url) if bm_url else phone.say(prompt("language-menu").text("bm"), "bm")
    return phone.gather(bm + phone.say(P("language-menu")), timeout="6")  # the listener line's own menu


def _where_language_menu(phone: Phone) -> str:
    """What the studio says before recording the language menu's prompt."""
    return (
        phone.say(P("studio-menu-text"))
        + phone.say(prompt("language-menu").text("fr"))
        + phone.say(P("studio-after-beep"))
    )


@pytest.mark.parametrize("storage", ["files", "object-storage"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_recorded_by_phone_then_played_to_the_next_bambara_caller(
    backend, app, client, runner, audio, editor, provider, storage, tmp_path
):
    with object_storage(app, tmp_path / "cache") if storage == "object-storage" else nullcontext() as s3:
        _record_by_phone_then_play(app, client, runner, audio, editor, provider, s3, tmp_path)


def _record_by_phone_then_play(app, client, runner, audio, editor, provider, s3, tmp_path):
    # a new listener's first call: the Bambara language menu has no recording (a fallback, counted)
    listener = Phone(provider, client, w.CALLER, _sid(1, provider))
    assert listener.start() == _language_menu(listener, None)
    listener.final()
    assert [(lang, stem, n) for lang, stem, n, _ in fallback_counts("bm")] == [("bm", STEM, 1)]

    # the editor calls: the studio's welcome, a wrong PIN, the right one, the most-needed text
    phone = Phone(provider, client, EDITOR, _sid(2, provider))
    assert phone.start() == phone.gather(phone.say(P("studio-welcome")), pin=True)
    assert phone.key("1111") == phone.gather(
        phone.say(P("studio-pin-wrong")) + phone.say(P("studio-welcome")), pin=True
    )
    assert phone.key(PIN) == phone.record(_where_language_menu(phone))
    # the take is played back from the provider, with the four choices
    url = TW_RECORDING if provider == "twilio" else AT_RECORDING
    choices = phone.say(P("studio-take-intro")) + phone.play(url) + phone.say(P("studio-take-menu"))
    assert phone.recorded() == phone.gather(choices)
    assert db.session.scalar(select(func.count()).select_from(StudioTake)) == 0
    kept_at = phone.turn
    answer = phone.key("1")  # keep: saved for fetching, then the next text
    assert answer.startswith(phone.record("")[:20]) and phone.say(P("studio-kept")) in answer
    assert "ev=record" in answer
    assert escape(prompt("language-menu").text("fr"), quote=False) not in answer  # the next text, not the kept one
    assert phone.key("1", turn=kept_at) == answer  # the provider retries the keep: same answer, kept once
    take = db.session.scalars(select(StudioTake)).one()
    assert (take.provider, take.lang, take.stem, take.user_id, take.status) == (
        provider, "bm", STEM, editor.id, TakeStatus.PENDING,
    )  # fmt: skip
    assert take.recording_key == (TW_SID if provider == "twilio" else take.recording_key) and take.url == url
    phone.final()
    assert not (audio / "bm" / f"{STEM}.wav").exists()  # never fetched in a webhook

    # after the call: the fetch, from a fake recording server
    with responses.RequestsMock() as server:
        fetched = TW_RECORDING + ".wav" if provider == "twilio" else AT_RECORDING
        server.get(fetched, body=tone(), content_type="audio/wav")
        if provider == "twilio":  # once ours, Twilio's copy is deleted (Africa's Talking has no API for it)
            server.delete(TW_RECORDING + ".json", status=204)
        result = runner.invoke(args=["studio", "fetch"])
        assert result.exit_code == 0, result.output
        assert "stored 1, to retry 0, failed 0" in result.output
        if provider == "twilio":  # with the account's credentials
            assert [c.request.method for c in server.calls] == ["GET", "DELETE"]
            assert all(c.request.headers["Authorization"].startswith("Basic ") for c in server.calls)
    db.session.expire_all()
    take = db.session.scalars(select(StudioTake)).one()
    recording = db.session.scalars(select(Recording)).one()
    assert take.status == TakeStatus.STORED and take.recording_id == recording.id
    assert (recording.lang, recording.stem, recording.source, recording.recorded_by) == (
        "bm", STEM, RecordingSource.PHONE, editor.id,
    )  # fmt: skip
    if s3 is None:  # a file where the voice line looks first
        assert (audio / "bm" / f"{STEM}.wav").is_file() and recording.file == f"bm/{STEM}.wav"
    else:  # an object under a key that never changes; no file in the audio folder
        assert keys(s3) == [f"{PREFIX}/bm/{STEM}.{hashlib.sha256(stored(s3)).hexdigest()[:16]}.wav"]
        assert recording.file == f"s3://{BUCKET}/{keys(s3)[0]}"
        assert not (audio / "bm" / f"{STEM}.wav").exists()

    # the next Bambara call plays the new recording (its id in the URL), and the fallback count stops growing
    again = Phone(provider, client, w.CALLER, _sid(3, provider))
    played = f"{w.BASE}/audio/bm/{STEM}.wav?v={recording.id}"
    assert again.start() == _language_menu(again, played)
    assert [(stem, n) for _, stem, n, _ in fallback_counts("bm")] == [(STEM, 1)]
    # ... and the provider fetches that URL: the recording (from the object store by a process without a copy)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    with client.get(played.removeprefix(w.BASE)) as sound:
        assert sound.status_code == 200 and sound.mimetype == "audio/wav"
        assert sound.data[:4] == b"RIFF" and (s3 is None or sound.data == stored(s3))


# --- each studio step, exact XML, both providers ------------------------------------------------------------


def _needed(*stems: str) -> None:
    """Callers heard these Bambara texts without their recording, the first most often."""
    for n, stem in enumerate(stems):
        db.session.add(AudioFallback(lang="bm", stem=stem, count=10 - n, first_at=NOW, last_at=NOW))
    db.session.commit()


def _item(phone: Phone, key: str) -> str:
    return phone.say(P("studio-menu-text")) + phone.say(prompt(key).text("fr")) + phone.say(P("studio-after-beep"))


def _choices(phone: Phone) -> str:
    url = TW_RECORDING if phone.provider == "twilio" else AT_RECORDING
    return phone.say(P("studio-take-intro")) + phone.play(url) + phone.say(P("studio-take-menu"))


def _steps():
    """(action, argument, expected answer from the phone) — after the right PIN, the goodbye prompt is most needed,
    then the apology."""
    return [
        ("start", None, lambda p: p.gather(p.say(P("studio-welcome")), pin=True)),
        ("key", PIN, lambda p: p.record(_item(p, "goodbye"))),
        # nothing recorded (Twilio goes on to the Redirect; Africa's Talking posts an empty recordingUrl)
        ("nothing", None, lambda p: p.record(p.say(P("studio-nothing")) + _item(p, "goodbye"))),
        ("recorded", None, lambda p: p.gather(_choices(p))),
        ("key", None, lambda p: p.gather(_choices(p))),  # silence: the take and the choices again
        ("key", "7", lambda p: p.gather(p.say(P("invalid-key")) + p.say(P("studio-take-menu")))),
        ("key", "2", lambda p: p.record(_item(p, "goodbye"))),  # again: the same text
        ("recorded", None, lambda p: p.gather(_choices(p))),
        ("key", "3", lambda p: p.record(_item(p, "sorry"))),  # passed over: the next text
        ("recorded", None, lambda p: p.gather(_choices(p))),
        ("key", "0", lambda p: p.hangup(p.say(P("studio-bye")))),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_studio_step_answers_the_exact_xml(backend, app, client, audio, editor, provider):
    _needed("prompts/goodbye", "prompts/sorry")
    phone = Phone(provider, client, EDITOR, _sid(5, provider))
    for n, (action, arg, expected) in enumerate(_steps()):
        if action == "start":
            answer = phone.start()
        elif action == "key":
            answer = phone.key(arg)
        elif action == "recorded":
            answer = phone.recorded()
        else:
            answer = phone.nothing()
        assert answer == expected(phone), f"step {n}: {action} {arg}"
    assert db.session.scalar(select(func.count()).select_from(StudioTake)) == 0  # nothing kept
    session = db.session.scalars(select(CallSession)).one()
    assert [label for _, label in session.path][:1] == ["studio"]
    phone.final()
    db.session.expire_all()
    assert session.status == CallStatus.COMPLETED and session.path[-1][1] == "hangup"  # a call like any other


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_pin_is_said_and_three_end_the_call(app, client, audio, editor, provider, caplog):
    caplog.set_level(logging.DEBUG)
    phone = Phone(provider, client, EDITOR, _sid(6, provider))
    welcome = phone.start()
    wrong = lambda: phone.gather(phone.say(P("studio-pin-wrong")) + phone.say(P("studio-welcome")), pin=True)  # noqa: E731
    assert welcome == phone.gather(phone.say(P("studio-welcome")), pin=True)
    assert phone.key("9999") == wrong()
    assert phone.key("13579") == wrong()
    assert phone.key("8642") == phone.hangup(phone.say(P("studio-pin-wrong")) + phone.say(P("goodbye")))
    empty = w.TWIML_EMPTY if provider == "twilio" else w.AT_EMPTY
    assert phone.key(PIN) == empty  # the call is over: a late request changes nothing
    for pin in ("9999", "13579", "8642", PIN):
        assert pin not in caplog.text  # never logged


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hash_alone_goes_on_to_the_listener_line(app, client, audio, editor, provider):
    phone = Phone(provider, client, EDITOR, _sid(7, provider))
    phone.start()
    assert phone.key(None if provider == "africastalking" else "") == _language_menu(phone, None)
    assert phone.key("2") == phone.gather(phone.say(P("language-set")) + phone.say(P("menu-main")), timeout="6")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("who", ["listener", "editor without PIN", "viewer with a PIN", "inactive editor"])
def test_other_callers_hear_the_line_unchanged(app, client, audio, make_user, provider, who):
    if who != "listener":
        user = make_user(Role.VIEWER if who.startswith("viewer") else Role.EDITOR, phone=EDITOR)
        if who in ("viewer with a PIN", "inactive editor"):
            set_pin(user, PIN)
        user.active = who != "inactive editor"
        db.session.commit()
    phone = Phone(provider, client, EDITOR, _sid(8, provider))
    assert phone.start() == _language_menu(phone, None)


def test_the_simulator_records_with_the_page_microphone(app, client, audio, editor, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    _needed("prompts/goodbye")
    sim = lambda **body: client.post("/simulator/voice", json={"phone": EDITOR, **body}).get_json()  # noqa: E731
    turn = sim(action="dial")
    assert (turn["node"], turn["listen"], turn["ended"]) == ("studio-pin", True, False)
    assert [line["text"] for line in turn["lines"]] == [P("studio-welcome")]
    call = turn["call"]
    turn = sim(action="key", digits=PIN, call=call, turn=turn["turn"])
    assert (turn["node"], turn["listen"], turn["ended"]) == ("studio-record", False, False)
    assert turn["record"] == {"max_seconds": 120, "finish_on_key": "#"}
    assert [line["text"] for line in turn["lines"]][-2:] == [prompt("goodbye").text("fr"), P("studio-after-beep")]
    upload = client.post("/simulator/takes", data=tone(), content_type="audio/wav")
    take = upload.get_json()["take"]
    with client.get(f"/simulator/takes/{take}") as played:
        assert (played.data, played.mimetype) == (tone(), "audio/wav")
    turn = sim(action="recorded", take=take, call=call, turn=turn["turn"])
    assert turn["node"] == "studio-take"
    assert [line["audio_url"] for line in turn["lines"]][1] == f"/simulator/takes/{take}"  # played from the page
    turn = sim(action="key", digits="1", call=call, turn=turn["turn"])
    assert turn["lines"][0]["text"] == P("studio-kept")
    assert fetch_pending(NOW) == {"stored": 1, "retry": 0, "failed": 0}
    recording = db.session.scalars(select(Recording)).one()
    assert (recording.stem, recording.source, recording.recorded_by) == (
        "prompts/goodbye",
        RecordingSource.PHONE,
        editor.id,
    )
    assert client.post("/simulator/takes", data=b"").status_code == 400
    assert client.get("/simulator/takes/../../etc/passwd").status_code == 404
    assert sim(action="recorded", take="../x", call=call, turn=turn["turn"])["node"] == "sorry"


def test_a_lesson_text_says_where_it_is(app, client, audio, editor, catalog):
    lesson = catalog.course("child-labour").lesson("what-is-child-labour")
    stem = lesson.items[0].body.audio["bm"]
    _needed(stem)
    phone = Phone("twilio", client, EDITOR, _sid(9, "twilio"))
    phone.start()
    texts = [t.stem for t in studio_texts(catalog) if t.lesson_id == "what-is-child-labour"]
    where = (
        phone.say(P("studio-lesson")) + phone.say(lesson.title.text("fr"))
        + phone.say(P("studio-piece", piece=texts.index(stem) + 1))
    )  # fmt: skip
    assert texts.index(stem) + 1 >= 2  # the lesson's title comes first
    guide = phone.say(lesson.items[0].body.text("fr"))
    assert phone.key(PIN) == phone.record(where + guide + phone.say(P("studio-after-beep")))


# --- the fetch --------------------------------------------------------------------------------------------------


def _pending_take(editor, provider: str = "twilio", stem: str = STEM) -> StudioTake:
    take = StudioTake(
        provider=provider, recording_key=TW_SID, url=TW_RECORDING if provider == "twilio" else AT_RECORDING,
        lang="bm", stem=stem, user_id=editor.id, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    db.session.add(take)
    db.session.commit()
    return take


def test_a_failed_fetch_is_retried_up_to_a_cap_and_shown(backend, app, runner, audio, editor):
    take = _pending_take(editor)
    with responses.RequestsMock() as server:
        server.get(TW_RECORDING + ".wav", status=404)
        for n in range(1, MAX_ATTEMPTS):
            assert fetch_pending(NOW) == {"stored": 0, "retry": 1, "failed": 0}
            db.session.refresh(take)
            assert (take.status, take.attempts, take.error) == (TakeStatus.PENDING, n, "HTTP 404")
        assert fetch_pending(NOW) == {"stored": 0, "retry": 0, "failed": 1}
    db.session.refresh(take)
    assert (take.status, take.attempts) == (TakeStatus.FAILED, MAX_ATTEMPTS)
    assert fetch_pending(NOW) == {"stored": 0, "retry": 0, "failed": 0}  # not tried again
    shown = runner.invoke(args=["studio", "takes"])
    assert f"{take.id} failed bm {STEM} attempts={MAX_ATTEMPTS} HTTP 404" in shown.output
    assert not (audio / "bm" / f"{STEM}.wav").exists()


def test_a_take_fetched_late_is_stored_on_a_later_run(app, audio, editor):
    take = _pending_take(editor, "africastalking")
    with responses.RequestsMock() as server:
        server.get(AT_RECORDING, status=503)
        assert fetch_pending(NOW)["retry"] == 1
    with responses.RequestsMock() as server:
        server.get(AT_RECORDING, body=tone())
        assert fetch_pending(NOW)["stored"] == 1
    db.session.refresh(take)
    assert take.status == TakeStatus.STORED and take.attempts == 2 and take.error == ""


def test_a_twilio_copy_that_cannot_be_deleted_leaves_the_take_stored(app, audio, editor, caplog):
    take = _pending_take(editor)
    with responses.RequestsMock() as server:
        server.get(TW_RECORDING + ".wav", body=tone())
        server.delete(TW_RECORDING + ".json", status=500)
        assert fetch_pending(NOW) == {"stored": 1, "retry": 0, "failed": 0}
    db.session.refresh(take)
    assert take.status == TakeStatus.STORED and (audio / "bm" / f"{STEM}.wav").is_file()
    assert f"studio take {take.id}: the twilio copy was not deleted: HTTP 500" in caplog.text


def test_an_unreadable_take_fails_at_once_with_the_reason(app, audio, editor):
    take = _pending_take(editor)
    with responses.RequestsMock() as server:
        server.get(TW_RECORDING + ".wav", body=b"not audio at all")
        assert fetch_pending(NOW) == {"stored": 0, "retry": 0, "failed": 1}
    db.session.refresh(take)
    assert take.status == TakeStatus.FAILED and take.error


def test_the_same_provider_recording_is_kept_once(backend, app, audio, editor):
    _pending_take(editor)
    db.session.add(StudioTake(
        provider="twilio", recording_key=TW_SID, url=TW_RECORDING, lang="bm", stem=STEM, user_id=editor.id,
    ))  # fmt: skip
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_recording_url_outside_twilio_is_refused(app, client, audio, editor):
    phone = Phone("twilio", client, EDITOR, _sid(10, "twilio"))
    phone.start()
    phone.key(PIN)
    forged = phone._twilio(f"?ev=record&t={phone.turn}", RecordingUrl="https://evil.example.org/x", Digits="#")
    assert forged.status_code == 200 and "<Record" not in forged.get_data(as_text=True)  # the apology
    assert db.session.scalar(select(func.count()).select_from(StudioTake)) == 0


def test_a_surprise_while_storing_leaves_the_take_to_retry_and_the_others_go_on(app, audio, editor, monkeypatch):
    import ivr.studio_fetch

    first = _pending_take(editor)
    second = StudioTake(
        provider="africastalking", recording_key="k2", url=AT_RECORDING, lang="bm", stem="prompts/goodbye",
        user_id=editor.id, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    db.session.add(second)
    db.session.commit()
    real_store = ivr.studio_fetch.store

    def store(lang, stem, data, **kwargs):
        if stem == STEM:
            raise OSError("disk full")
        return real_store(lang, stem, data, **kwargs)

    monkeypatch.setattr(ivr.studio_fetch, "store", store)
    with responses.RequestsMock() as server:
        server.get(TW_RECORDING + ".wav", body=tone())
        server.get(AT_RECORDING, body=tone())
        assert fetch_pending(NOW) == {"stored": 1, "retry": 1, "failed": 0}
    db.session.expire_all()
    assert (first.status, first.attempts, first.error) == (TakeStatus.PENDING, 1, "error: OSError")
    assert second.status == TakeStatus.STORED


def test_an_editor_is_answered_even_when_the_line_rejects_to_call_back(database_url, tmp_path):
    from accounts import service as accounts
    from tests.conftest import make_app

    app = make_app(database_url, KALANSO_MISSED_CALL_REJECT="true")
    with app.app_context():
        app.config["KALANSO_AUDIO_DIR"] = tmp_path
        user, _ = accounts.create_user(
            "ed@example.org", Role.EDITOR, NOW, password="a long pass phrase 42", phone=EDITOR
        )
        set_pin(user, PIN)
        db.session.commit()
        client = app.test_client()
        phone = Phone("twilio", client, EDITOR, _sid(11, "twilio"))
        assert phone.start() == phone.gather(phone.say(P("studio-welcome")), pin=True)
        listener = Phone("twilio", client, w.CALLER, _sid(12, "twilio"))
        assert "<Reject" in listener.start()  # a listener is still declined and called back
        db.session.remove()


def test_a_text_kept_on_an_earlier_call_is_not_offered_until_fetched(app, client, audio, editor):
    _needed("prompts/goodbye", "prompts/sorry")
    _pending_take(editor, stem="prompts/goodbye")
    phone = Phone("twilio", client, EDITOR, _sid(13, "twilio"))
    phone.start()
    assert phone.key(PIN) == phone.record(_item(phone, "sorry"))


# --- wrong PINs across calls --------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_pins_across_calls_lock_the_studio_until_a_new_pin(backend, app, client, audio, editor, provider, caplog):
    """Three tries a call, but the count goes on from call to call: the tenth wrong PIN in a row ends the call at
    once, and the number then hears the listener line until the editor chooses a new PIN on the dashboard."""
    caplog.set_level(logging.INFO)
    _needed("prompts/goodbye")
    welcome = lambda p: p.gather(p.say(P("studio-welcome")), pin=True)  # noqa: E731
    wrong = lambda p: p.gather(p.say(P("studio-pin-wrong")) + p.say(P("studio-welcome")), pin=True)  # noqa: E731
    bye = lambda p: p.hangup(p.say(P("studio-pin-wrong")) + p.say(P("goodbye")))  # noqa: E731
    calls = iter(range(20, 40))

    def call() -> Phone:
        phone = Phone(provider, client, EDITOR, _sid(next(calls), provider))
        assert phone.start() == welcome(phone)
        return phone

    phone = call()  # two wrong, then the right one: the count starts again
    assert phone.key("9999") == wrong(phone) and phone.key("8642") == wrong(phone)
    assert phone.key(PIN) == phone.record(_item(phone, "goodbye"))
    phone.final()
    db.session.expire_all()
    assert editor.studio_pin_failures == 0
    for _ in range(3):  # three calls of three wrong PINs: nine in a row
        phone = call()
        assert phone.key("9999") == wrong(phone) and phone.key("8642") == wrong(phone)
        assert phone.key("13579") == bye(phone)
        phone.final()
    db.session.expire_all()
    assert editor.studio_pin_failures == 9
    phone = call()
    assert phone.key("9999") == bye(phone)  # the tenth: locked, the call ends at once
    phone.final()
    db.session.expire_all()
    assert editor.studio_pin_failures == 10
    assert "locked after 10 wrong PINs" in caplog.text
    assert EDITOR not in caplog.text and PIN not in caplog.text and "9999" not in caplog.text

    phone = Phone(provider, client, EDITOR, _sid(next(calls), provider))
    assert phone.start() == _language_menu(phone, None)  # locked: the normal listener line, even with the right PIN
    phone.final()

    set_pin(editor, "5938")  # a new PIN chosen on the dashboard unlocks
    db.session.commit()
    phone = call()
    assert phone.key("5938") == phone.record(_item(phone, "goodbye"))
