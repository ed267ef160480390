"""The studio's coverage page and print view: exact figures on seeded rows, who may open them, where an editor
lands after signing in, the banner of broken course files (the last good courses keep serving), English."""

from __future__ import annotations

import shutil

import pytest

from accounts.roles import Role
from core.db import db
from dashboard.studio import coverage_groups, voice_prompts
from studio.models import AudioFallback, Recording, RecordingSource, RecordingStatus, ReviewStatus, TextReview
from studio.service import studio_texts, text_hash
from tests.conftest import FIXTURE_COURSES
from tests.dashboard_support import sign_in

PAGES = ("/dashboard/studio/", "/dashboard/studio/print?lang=bm&missing=1")


def _texts(catalog):
    return studio_texts(catalog, voice_prompts())


@pytest.fixture
def audio(app, tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    app.config["KALANSO_AUDIO_DIR"] = folder
    return folder


def _recording(lang, stem, status=RecordingStatus.RECORDED):
    db.session.add(
        Recording(lang=lang, stem=stem, file=f"{lang}/{stem}.wav", source=RecordingSource.UPLOAD, status=status)
    )


def _review(lang, text, status=ReviewStatus.REVIEWED, *, stale=False):
    body = text.text.text(lang)
    db.session.add(
        TextReview(lang=lang, stem=text.stem, status=status, text_hash=text_hash(body + ("x" if stale else "")))
    )


def test_figures_per_lesson_and_language(app, backend, audio, catalog):
    texts = _texts(catalog)
    lesson = [t for t in texts if t.course_id == "money" and t.lesson_id == "saving-a-little"]
    assert len(lesson) >= 4
    a, b, c, d = lesson[:4]
    _review("bm", a)
    _review("bm", b)
    _review("bm", c, stale=True)  # reviewed for an older text: draft again
    _review("bm", d, ReviewStatus.NEEDS_CHANGES)
    _review("fr", a)
    _recording("bm", a.stem, RecordingStatus.APPROVED)
    _recording("bm", b.stem)
    (audio / "bm" / c.stem).parent.mkdir(parents=True, exist_ok=True)
    (audio / "bm" / f"{c.stem}.mp3").write_bytes(b"x")  # a file committed with the content, no row
    (audio / "_generated" / "fr" / a.stem).parent.mkdir(parents=True, exist_ok=True)
    (audio / "_generated" / "fr" / f"{a.stem}.wav").write_bytes(b"x")
    (audio / "_generated" / "fr" / f"{b.stem}.wav").write_bytes(b"x")
    _recording("fr", b.stem)  # a person's recording wins over the generated file
    db.session.commit()

    groups = {g.course_id: g for g in coverage_groups(texts, ("bm", "fr"))}
    row = next(r for r in groups["money"].rows if r.key == "saving-a-little")
    bm, fr = row.by_lang["bm"], row.by_lang["fr"]
    assert (bm.texts, bm.reviewed, bm.recorded, bm.approved, bm.missing, bm.generated) == (
        len(lesson),
        2,
        3,
        1,
        len(lesson) - 3,
        0,
    )
    assert (fr.texts, fr.reviewed, fr.recorded, fr.approved, fr.missing, fr.generated) == (
        len(lesson),
        1,
        1,
        0,
        len(lesson) - 1,
        1,
    )
    money_total = groups["money"].total["bm"]
    assert money_total.texts == sum(1 for t in texts if t.course_id == "money")
    assert money_total.recorded == 3
    prompts = groups[""]
    assert prompts.rows[0].by_lang["bm"].texts == len(voice_prompts()) > 0
    assert groups["child-labour"].total["bm"].recorded == 0


def test_the_page_shows_figures_and_most_needed_first(app, client, make_user, audio, catalog):
    texts = _texts(catalog)
    first, second = texts[5], texts[2]
    db.session.add(AudioFallback(lang="bm", stem=first.stem, count=42))
    db.session.add(AudioFallback(lang="bm", stem=second.stem, count=7))
    db.session.commit()
    sign_in(client, make_user(Role.EDITOR))
    page = client.get("/dashboard/studio/?lang=bm").get_data(as_text=True)
    assert "Bambara" in page and "Messages du serveur vocal" in page
    needed = page.split("<h3>Les plus demandés")[1]
    assert needed.index(first.stem) < needed.index(second.stem) < needed.index(texts[0].stem)
    assert "42 ×" in needed and "7 ×" in needed
    assert "Voix de synthèse" not in page  # French only
    both = client.get("/dashboard/studio/").get_data(as_text=True)
    assert 'id="lang-bm"' in both and 'id="lang-fr"' in both and "Voix de synthèse" in both
    one = client.get("/dashboard/studio/?course=money").get_data(as_text=True)
    assert "Épargner un peu" in one and "Le travail des enfants" not in one.split("<h1>")[1].split("</form>")[1]


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.MANAGER, 200),
        (Role.REVIEWER, 200),
        (Role.EDITOR, 200),
        (Role.AGENT, 403),
        (Role.VIEWER, 403),
    ],
)
def test_who_may_open_the_studio(app, client, make_user, audio, role, status):
    sign_in(client, make_user(role))
    for url in PAGES:
        assert client.get(url).status_code == status, url
    nav = client.get("/dashboard/studio/" if status == 200 else "/dashboard/").get_data(as_text=True)
    assert ('href="/dashboard/studio/"' in nav) is (status == 200)


def test_signed_out_goes_to_sign_in(client):
    for url in PAGES:
        answer = client.get(url)
        assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.REVIEWER])
def test_an_editor_lands_on_the_studio(app, client, make_user, role):
    user = make_user(role)
    answer = sign_in(client, user)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/studio/")
    page = client.get("/dashboard/studio/").get_data(as_text=True)
    assert 'class="brand" href="/dashboard/studio/"' in page
    assert 'href="/dashboard/"' not in page  # no link to the home page it may not open


def test_a_manager_still_lands_on_the_home_page(app, client, make_user):
    answer = sign_in(client, make_user(Role.MANAGER))
    assert answer.headers["Location"].endswith("/dashboard/")


def test_broken_course_files_show_a_banner_while_the_last_good_serve(app, client, make_user, audio, tmp_path):
    courses = tmp_path / "courses"
    shutil.copytree(FIXTURE_COURSES, courses)
    app.config["KALANSO_COURSES_DIR"] = courses
    sign_in(client, make_user(Role.EDITOR))
    good = client.get("/dashboard/studio/").get_data(as_text=True)
    assert "Les fichiers des cours ont des erreurs" not in good and "Épargner un peu" in good
    money = courses / "money.yaml"
    money.write_text(money.read_text().replace("review: {fr: draft, bm: draft}", "review: {fr: done, bm: draft}"))
    page = client.get("/dashboard/studio/").get_data(as_text=True)
    assert "Les fichiers des cours ont des erreurs" in page
    assert "La dernière version correcte continue d" in page
    banner = page.split('role="alert"')[1].split("</section>")[0]
    assert "<td>money.yaml</td>" in banner and "lesson &#39;saving-a-little&#39;" in banner and "done" in banner
    assert "Épargner un peu" in page  # the last good courses, still served
    money.write_text(money.read_text().replace("fr: done", "fr: draft"))
    assert "Les fichiers des cours ont des erreurs" not in client.get("/dashboard/studio/").get_data(as_text=True)


def test_print_view_numbers_the_missing_texts_side_by_side(app, client, make_user, audio, catalog):
    texts = [t for t in _texts(catalog) if t.course_id == "money"]
    _recording("bm", texts[0].stem)
    db.session.commit()
    sign_in(client, make_user(Role.EDITOR))
    page = client.get("/dashboard/studio/print?lang=bm&course=money&missing=1").get_data(as_text=True)
    assert "<nav" not in page  # nothing but the texts
    assert texts[0].stem not in page
    assert f"Nombre de textes : {len(texts) - 1}." in page
    assert page.count('<span class="n">') == len(texts) - 1
    assert f"<code>{texts[1].stem}</code>" in page
    entry = page.split(f"<code>{texts[1].stem}</code>")[1].split("</li>")[0]
    assert texts[1].text.text("fr") in entry and texts[1].text.text("bm") in entry
    assert 'class="side read" lang="bm"' in entry
    feedback = next(t for t in texts if t.where.endswith(": feedback correct"))
    assert '<em class="kind">après une bonne réponse</em>' in page.split(f"<code>{feedback.stem}</code>")[1][:80]
    every = client.get("/dashboard/studio/print?lang=fr").get_data(as_text=True)
    assert every.count('<span class="n">') == len(_texts(catalog)) and 'class="side read" lang="fr"' in every


def test_the_page_in_english(app, client, make_user, audio):
    user = make_user(Role.REVIEWER)
    user.locale = "en"
    db.session.commit()
    sign_in(client, user)
    page = client.get("/dashboard/studio/").get_data(as_text=True)
    for words in ("Studio: texts and recordings", "Most needed first", "Reviewed", "Missing", "Voice line messages"):
        assert words in page
    assert "Relus" not in page and "Manquants" not in page
    printed = client.get("/dashboard/studio/print?lang=bm&missing=1").get_data(as_text=True)
    assert "Texts to record" in printed and "Number of texts:" in printed


def test_files_broken_from_the_start_show_their_errors_not_a_500(app, client, make_user, audio, tmp_path):
    courses = tmp_path / "courses"
    shutil.copytree(FIXTURE_COURSES, courses)
    money = courses / "money.yaml"
    money.write_text(money.read_text().replace("review: {fr: draft, bm: draft}", "review: {fr: done, bm: draft}"))
    app.config["KALANSO_COURSES_DIR"] = courses
    sign_in(client, make_user(Role.EDITOR))
    answer = client.get("/dashboard/studio/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Aucune version correcte n" in page and "<td>money.yaml</td>" in page
    printed = client.get("/dashboard/studio/print?lang=bm")
    assert printed.status_code == 302 and printed.headers["Location"].endswith("/dashboard/studio/")
