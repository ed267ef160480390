"""The studio's item page (dashboard/studio_items.py): record or upload a take, stored where the voice line plays
it; a reviewer sets the text's state and approves someone else's recording, never their own; the recordings'
audio behind the RECORD permission; the studio PIN page."""

from __future__ import annotations

import io
import wave

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEvent
from content.recordings import cached_recording
from core.db import db
from ivr.models import CallSession
from studio.models import RecordingSource, RecordingStatus, ReviewStatus
from studio.service import (
    PIN_LOCK_AFTER,
    check_pin,
    current_recording,
    enter_pin,
    review_of,
    set_pin,
    store,
    studio_user,
)
from tests.conftest import NOW
from tests.dashboard_support import Role, csrf_token, sign_in
from tests.test_studio_service import tone

STEM = "money/saving-a-little/small-sums"
PAGE = f"/dashboard/studio/items/{STEM}"
UPLOAD = f"/dashboard/studio/upload/{STEM}"


def send(client, data: bytes, *, lang: str = "bm", source: str = "upload", name: str = "voix.wav", **kw):
    token = csrf_token(client, PAGE)
    form = {"csrf_token": token, "lang": lang, "source": source, "file": (io.BytesIO(data), name)}
    return client.post(UPLOAD, data=form, content_type="multipart/form-data", **kw)


def actions() -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


@pytest.mark.parametrize(
    ("role", "code", "call"),
    [
        (Role.ADMIN, 200, 303),
        (Role.MANAGER, 200, 303),
        (Role.REVIEWER, 200, 303),
        (Role.EDITOR, 200, 303),
        (Role.AGENT, 403, 403),
        (Role.VIEWER, 403, 403),
    ],
)
def test_who_may_open_the_item_and_pin_pages(client, make_user, audio, role, code, call):
    sign_in(client, make_user(role, phone="+22370000001"))
    assert client.get(PAGE).status_code == code
    assert client.get("/dashboard/studio/pin").status_code == code
    token = csrf_token(client, "/dashboard/studio/pin" if code == 200 else "/dashboard/")
    asked = client.post("/dashboard/studio/call", data={"csrf_token": token})  # "Appelez-moi pour enregistrer"
    assert asked.status_code == call
    assert db.session.scalar(select(func.count()).select_from(CallSession)) == (1 if call == 303 else 0)


def test_signed_out_goes_to_the_sign_in_page(client, audio):
    for url in (PAGE, "/dashboard/studio/pin", "/dashboard/studio/audio/1"):
        answer = client.get(url)
        assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]


def test_the_item_page_shows_both_languages_side_by_side(client, make_user, audio, catalog):
    sign_in(client, make_user(Role.EDITOR))
    page = client.get(PAGE).get_data(as_text=True)
    from studio.service import studio_texts

    text = next(t for t in studio_texts(catalog) if t.stem == STEM)
    from markupsafe import escape

    assert str(escape(text.text.texts["fr"])) in page and str(escape(text.text.texts["bm"])) in page
    assert 'id="lang-fr"' in page and 'id="lang-bm"' in page
    assert "Relu : le texte est bon" not in page  # an editor does not review
    assert client.get("/dashboard/studio/items/money/no-such/text").status_code == 404
    prompt = client.get("/dashboard/studio/items/prompts/welcome-back")
    assert prompt.status_code == 200 and "prompt welcome-back" in prompt.get_data(as_text=True)
    assert client.get("/dashboard/studio/items/prompts/lesson-score").status_code == 404  # spoken by TTS, not recorded


def test_an_uploaded_file_is_played_by_the_line_from_the_next_call(client, make_user, audio, backend):
    editor = make_user(Role.EDITOR)
    sign_in(client, editor)
    answer = send(client, tone())
    assert answer.status_code == 303 and answer.headers["Location"].endswith("done=kept-bm#lang-bm")
    recording = current_recording("bm", STEM)
    assert recording.source is RecordingSource.UPLOAD and recording.recorded_by == editor.id
    assert recording.status is RecordingStatus.RECORDED
    assert cached_recording(audio, "bm", STEM) == audio / "bm" / f"{STEM}.wav"  # where the voice line finds it
    assert "studio.upload" in actions()
    page = client.get(PAGE).get_data(as_text=True)
    assert f"/dashboard/studio/audio/{recording.id}" in page and 'data-status="recorded"' in page


def test_a_take_from_the_microphone_answers_json(client, make_user, audio):
    sign_in(client, make_user(Role.EDITOR))
    answer = send(client, tone(), source="browser", name="prise.webm", headers={"X-Requested-With": "fetch"})
    assert answer.status_code == 201 and answer.json["ok"] is True
    assert current_recording("bm", STEM).source is RecordingSource.BROWSER
    assert "studio.keep" in actions()
    refused = send(client, b"not audio" * 50, source="browser", headers={"X-Requested-With": "fetch"})
    assert refused.status_code == 422 and "pas un son lisible" in refused.json["error"]


def test_what_is_not_audio_is_refused_next_to_the_field(client, make_user, audio):
    sign_in(client, make_user(Role.EDITOR))
    answer = send(client, b"<html>not a sound</html>" * 40, name="voix.mp3")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    field = page[page.index('id="file-bm"') :]
    assert field.index("pas un son lisible") < field.index("Envoyer le fichier")  # under the field, before the button
    assert current_recording("bm", STEM) is None and not (audio / "bm").exists()
    empty = send(client, b"")
    assert empty.status_code == 422 and "Choisissez un fichier" in empty.get_data(as_text=True)


def test_a_file_too_big_is_refused(client, make_user, audio, monkeypatch):
    import dashboard.studio_items
    import studio.audio

    monkeypatch.setattr(studio.audio, "MAX_INPUT_BYTES", 1000)
    monkeypatch.setattr(dashboard.studio_items, "MAX_INPUT_BYTES", 1000)
    sign_in(client, make_user(Role.EDITOR))
    answer = send(client, tone())
    assert answer.status_code == 422 and "trop gros" in answer.get_data(as_text=True)
    assert current_recording("bm", STEM) is None


def test_the_french_generated_voice_is_heard_and_replaced_by_a_person(client, make_user, audio):
    generated = audio / "_generated" / "fr" / f"{STEM}.wav"
    generated.parent.mkdir(parents=True)
    generated.write_bytes(tone())
    sign_in(client, make_user(Role.EDITOR))
    page = client.get(PAGE).get_data(as_text=True)
    assert "voix de synthèse" in page and f"/dashboard/studio/heard/fr/{STEM}" in page
    heard = client.get(f"/dashboard/studio/heard/fr/{STEM}")
    assert heard.status_code == 200 and heard.mimetype == "audio/wav" and heard.data == tone()
    heard.close()
    assert send(client, tone(seconds=2), lang="fr").status_code == 303
    assert cached_recording(audio, "fr", STEM) == audio / "fr" / f"{STEM}.wav"  # the person's voice first
    assert client.get(f"/dashboard/studio/heard/bm/{STEM}").status_code == 404


def test_approved_by_another_reviewer_never_by_its_recorder(client, make_user, audio, backend):
    author = make_user(Role.REVIEWER, name="Awa")
    other = make_user(Role.REVIEWER, name="Moussa")
    sign_in(client, author)
    send(client, tone())
    recording = current_recording("bm", STEM)
    page = client.get(PAGE).get_data(as_text=True)
    assert "un autre relecteur doit l'approuver" in page and "/approve" not in page
    token = csrf_token(client, PAGE)
    refused = client.post(f"/dashboard/studio/recordings/{recording.id}/approve", data={"csrf_token": token})
    assert refused.status_code == 422 and "pas celle qui l&#39;a fait" in refused.get_data(as_text=True)
    db.session.refresh(recording)
    assert recording.status is RecordingStatus.RECORDED

    client.post("/dashboard/logout", data={"csrf_token": token})
    sign_in(client, other)
    token = csrf_token(client, PAGE)
    url = f"/dashboard/studio/recordings/{recording.id}"
    no_comment = client.post(f"{url}/reject", data={"csrf_token": token})
    assert no_comment.status_code == 422 and "Dites ce qui ne va pas" in no_comment.get_data(as_text=True)
    assert client.post(f"{url}/approve", data={"csrf_token": token}).status_code == 303
    db.session.refresh(recording)
    assert recording.status is RecordingStatus.APPROVED and recording.reviewed_by == other.id
    page = client.get(PAGE).get_data(as_text=True)
    assert 'data-status="approved"' in page and "Moussa" in page
    assert client.post(f"{url}/reject", data={"csrf_token": token, "comment": "On entend du bruit"}).status_code == 303
    db.session.refresh(recording)
    assert recording.status is RecordingStatus.REJECTED and recording.comment == "On entend du bruit"
    assert {"studio.approve", "studio.reject"} <= set(actions())


def test_an_editor_cannot_approve(client, make_user, audio):
    reviewer = make_user(Role.REVIEWER)
    recording = store("bm", STEM, tone(), source=RecordingSource.UPLOAD, user=reviewer, text="x", now=NOW)
    db.session.commit()
    sign_in(client, make_user(Role.EDITOR))
    token = csrf_token(client, PAGE)
    assert (
        client.post(f"/dashboard/studio/recordings/{recording.id}/approve", data={"csrf_token": token}).status_code
        == 403
    )
    assert (
        client.post(
            f"/dashboard/studio/review/{STEM}", data={"csrf_token": token, "lang": "bm", "status": "reviewed"}
        ).status_code
        == 403
    )


def test_review_states(client, make_user, audio, backend):
    sign_in(client, make_user(Role.REVIEWER))
    url = f"/dashboard/studio/review/{STEM}"
    token = csrf_token(client, PAGE)
    missing = client.post(url, data={"csrf_token": token, "lang": "bm", "status": "needs-changes"})
    assert missing.status_code == 422 and "Dites ce qu&#39;il faut changer" in missing.get_data(as_text=True)
    assert review_of("bm", STEM) is None
    done = client.post(
        url, data={"csrf_token": token, "lang": "bm", "status": "needs-changes", "comment": "Un mot manque"}
    )
    assert done.status_code == 303
    assert (review_of("bm", STEM).status, review_of("bm", STEM).comment) == (
        ReviewStatus.NEEDS_CHANGES,
        "Un mot manque",
    )
    page = client.get(PAGE).get_data(as_text=True)
    assert 'data-review="needs-changes"' in page and "Un mot manque" in page
    assert client.post(url, data={"csrf_token": token, "lang": "fr", "status": "reviewed"}).status_code == 303
    assert client.post(url, data={"csrf_token": token, "lang": "bm", "status": "draft"}).status_code == 303
    assert review_of("fr", STEM).status is ReviewStatus.REVIEWED and review_of("bm", STEM).status is ReviewStatus.DRAFT
    assert client.post(url, data={"csrf_token": token, "lang": "xx", "status": "draft"}).status_code == 400
    assert actions().count("studio.review") == 3


def test_the_audio_route_needs_record_and_serves_history(client, make_user, audio):
    editor = make_user(Role.EDITOR)
    first = store("bm", STEM, tone(seconds=1), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    first_wav = (audio / first.file).read_bytes()
    second = store("bm", STEM, tone(seconds=2), source=RecordingSource.UPLOAD, user=editor, text="x", now=NOW)
    db.session.commit()
    sign_in(client, make_user(Role.VIEWER))
    assert client.get(f"/dashboard/studio/audio/{first.id}").status_code == 403
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, editor)
    old = client.get(f"/dashboard/studio/audio/{first.id}")
    assert old.status_code == 200 and old.mimetype == "audio/wav" and old.data == first_wav
    assert "no-cache" in old.headers["Cache-Control"]
    old.close()
    new = client.get(f"/dashboard/studio/audio/{second.id}")
    assert new.data == (audio / "bm" / f"{STEM}.wav").read_bytes() != first_wav
    new.close()
    assert client.get("/dashboard/studio/audio/999999").status_code == 404
    page = client.get(PAGE).get_data(as_text=True)
    assert "Enregistrements remplacés (1)" in page


def test_without_the_csrf_token_nothing_is_kept(client, make_user, audio):
    sign_in(client, make_user(Role.EDITOR))
    form = {"lang": "bm", "source": "upload", "file": (io.BytesIO(tone()), "voix.wav")}
    answer = client.post(UPLOAD, data=form, content_type="multipart/form-data")
    assert answer.status_code == 400
    assert current_recording("bm", STEM) is None


def test_the_studio_pin(client, make_user, audio):
    without = make_user(Role.EDITOR)
    sign_in(client, without)
    assert "demandez à un administrateur" in client.get("/dashboard/studio/pin").get_data(as_text=True)
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    user = make_user(Role.EDITOR, phone="+22370000001")
    sign_in(client, user)
    page = client.get("/dashboard/studio/pin").get_data(as_text=True)
    assert "demandez à un administrateur" not in page and "+22370000001" not in page  # masked
    token = csrf_token(client, "/dashboard/studio/pin")
    easy = client.post("/dashboard/studio/pin", data={"csrf_token": token, "pin": "1234", "again": "1234"})
    assert easy.status_code == 422 and "moins facile" in easy.get_data(as_text=True)
    differ = client.post("/dashboard/studio/pin", data={"csrf_token": token, "pin": "4826", "again": "4827"})
    assert differ.status_code == 422 and "pas les mêmes" in differ.get_data(as_text=True)
    done = client.post("/dashboard/studio/pin", data={"csrf_token": token, "pin": "4826", "again": "4826"})
    assert done.status_code == 200 and "Code enregistré" in done.get_data(as_text=True)
    db.session.refresh(user)
    assert check_pin(user, "4826") and "studio.pin" in actions()


def test_a_code_locked_by_wrong_pins_says_so_and_a_new_code_unlocks_it(client, make_user, audio):
    user = make_user(Role.EDITOR, phone="+22370000001")
    set_pin(user, "4826")
    db.session.commit()
    sign_in(client, user)
    assert "bloqué" not in client.get("/dashboard/studio/pin").get_data(as_text=True)
    for _ in range(3):
        enter_pin(user, "0000", NOW)
    db.session.commit()
    page = client.get("/dashboard/studio/pin").get_data(as_text=True)
    assert "Codes faux tapés de suite au téléphone depuis le dernier bon code : 3" in page
    for _ in range(PIN_LOCK_AFTER - 3):
        enter_pin(user, "0000", NOW)
    db.session.commit()
    page = client.get("/dashboard/studio/pin").get_data(as_text=True)
    assert "Votre code a été bloqué : un code faux a été tapé 10 fois de suite au téléphone." in page
    assert "Choisissez un nouveau code ci-dessous pour le débloquer." in page
    assert studio_user("+22370000001") is None
    token = csrf_token(client, "/dashboard/studio/pin")
    done = client.post("/dashboard/studio/pin", data={"csrf_token": token, "pin": "5938", "again": "5938"})
    assert done.status_code == 200 and "Code enregistré" in done.get_data(as_text=True)
    assert "bloqué" not in done.get_data(as_text=True)
    db.session.expire_all()
    assert user.studio_pin_failures == 0 and studio_user("+22370000001") == user
    unlocked = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "studio.pin")).one()
    assert unlocked.detail == {"unlocked": True}


def test_the_page_in_english(client, make_user, audio):
    sign_in(client, make_user(Role.REVIEWER))
    client.set_cookie("lang", "en")
    client.post("/dashboard/language/en", data={"csrf_token": csrf_token(client, PAGE), "next": PAGE})
    page = client.get(PAGE).get_data(as_text=True)
    assert "Record and review" in page and "Enregistrer et relire" not in page
    assert "Upload a file instead" in page
    assert "Your studio code" in client.get("/dashboard/studio/pin").get_data(as_text=True)


def test_a_wav_header_only_is_not_a_recording(client, make_user, audio):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
    sign_in(client, make_user(Role.EDITOR))
    answer = send(client, buf.getvalue())
    assert answer.status_code == 422 and current_recording("bm", STEM) is None
