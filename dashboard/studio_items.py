"""The studio's item page: one text, French and Bambara side by side, its review state and current recording per
language; record with the microphone (``static/studio-record.js``) or upload a WAV/MP3 file, listen, keep; a
reviewer sets the text's state and approves or rejects the recording of someone else. And the studio PIN page
(recording by phone), where one may also ask the line to call them to record (``ivr.studio.call_me``). The rules
live in ``studio.service`` and ``ivr.studio``; this module shows them and records the audit log.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import HiddenField, PasswordField, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, allowed
from content.catalog import get_catalog
from content.recordings import find_generated, find_recorded
from core.db import db
from core.phones import mask_phone
from dashboard.access import me, now, require
from ivr import studio as phone_studio
from ivr.prompts import is_template, load_prompts
from studio import service
from studio.audio import MAX_INPUT_BYTES, AudioRefused
from studio.models import Recording, RecordingSource, RecordingStatus, ReviewStatus
from studio.storage import StorageError, storage

bp = Blueprint("studio_items", __name__, url_prefix="/dashboard/studio", template_folder="templates")

LANGS = ("fr", "bm")
LANG_WORDS = {"fr": _l("Français"), "bm": _l("Bambara")}
SOURCE_WORDS = {
    RecordingSource.PHONE: _l("par téléphone"),
    RecordingSource.BROWSER: _l("au micro du navigateur"),
    RecordingSource.UPLOAD: _l("fichier envoyé"),
}
STATUS_WORDS = {
    RecordingStatus.RECORDED: _l("à approuver"),
    RecordingStatus.APPROVED: _l("approuvé"),
    RecordingStatus.REJECTED: _l("refusé"),
}
REVIEW_WORDS = {
    ReviewStatus.DRAFT: _l("brouillon : pas encore relu"),
    ReviewStatus.REVIEWED: _l("relu"),
    ReviewStatus.NEEDS_CHANGES: _l("à corriger"),
}
MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg"}


class UploadForm(FlaskForm):
    lang = HiddenField()
    source = HiddenField(default="upload")
    file = FileField(_l("Fichier WAV ou MP3"))


class ReviewForm(FlaskForm):
    lang = HiddenField()
    status = RadioField(
        _l("État du texte"),
        choices=[
            SelectChoice(ReviewStatus.REVIEWED.value, _l("Relu : le texte est bon")),
            SelectChoice(ReviewStatus.NEEDS_CHANGES.value, _l("À corriger (dites quoi)")),
            SelectChoice(ReviewStatus.DRAFT.value, _l("Remettre en brouillon")),
        ],
    )
    comment = TextAreaField(_l("Commentaire"), validators=[Length(max=2000)])


class DecideForm(FlaskForm):
    comment = TextAreaField(_l("Ce qui ne va pas (pour refuser)"), validators=[Length(max=2000)])


class PinForm(FlaskForm):
    pin = PasswordField(_l("Nouveau code (4 à 8 chiffres)"))
    again = PasswordField(_l("Le même code, encore"))


class CallMeForm(FlaskForm):
    """The "Appelez-moi pour enregistrer" button: nothing to fill, the CSRF token only."""


CALL_REFUSED = {  # ivr.studio.CALL_REFUSALS, in words
    "not_allowed": _l("Votre compte ne permet plus d'enregistrer."),
    "no_phone": _l(
        "Votre compte n'a pas de numéro de téléphone : demandez à un administrateur de l'ajouter, "
        "puis la ligne pourra vous appeler."
    ),
    "opted_out": _l(
        "Votre numéro est désinscrit de la ligne (quelqu'un a demandé, depuis ce numéro, à ne plus être appelé) : "
        "la ligne ne l'appelle plus. Pour le réinscrire, envoyez START par SMS à la ligne, puis réessayez."
    ),
    "already": _l(
        "Un appel du studio pour vous est déjà prévu ou en cours : décrochez quand votre téléphone sonne. "
        "Vous pourrez en demander un autre dans quelques minutes."
    ),
}


def _texts() -> dict[str, service.StudioText]:
    prompts = {key: text for key, text in load_prompts().items() if not is_template(key)}
    return {t.stem: t for t in service.studio_texts(get_catalog(), prompts)}


def _text_or_404(stem: str) -> service.StudioText:
    found = _texts().get(stem)
    if found is None:
        abort(404)
    return found


def _history(stem: str) -> list[Recording]:
    query = (
        select(Recording)
        .where(Recording.stem == stem, Recording.replaced_at.is_not(None))
        .order_by(Recording.created_at.desc(), Recording.id.desc())
    )
    return list(db.session.scalars(query))


def _people(ids) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}


def _page(text: service.StudioText, *, forms=None, problems=None, status: int = 200):
    """The item page; ``forms``/``problems`` by language keep what was refused next to its field."""
    forms, problems = forms or {}, problems or {}
    base = service.audio_dir()
    sides, ids = [], []
    history = _history(text.stem)
    for lang in LANGS:
        current = service.current_recording(lang, text.stem)
        review = service.review_of(lang, text.stem)
        words = text.text.texts.get(lang, "")
        if current is not None:
            ids += [current.recorded_by, current.reviewed_by]
        if review is not None:
            ids.append(review.reviewed_by)
        heard = None  # what the line plays when nobody recorded it here: a file shipped with the content, or TTS
        if current is None:
            if find_recorded(base, lang, text.stem) is not None:
                heard = "shipped"
            elif find_generated(base, lang, text.stem) is not None:
                heard = "generated"
        upload = forms.get(("upload", lang)) or UploadForm(formdata=None, lang=lang)
        review_form = forms.get(("review", lang)) or ReviewForm(formdata=None, lang=lang)
        decide = forms.get(("decide", lang)) or DecideForm(formdata=None)
        sides.append(
            {
                "lang": lang,
                "label": LANG_WORDS[lang],
                "text": words,
                "state": service.review_state(review, words),
                "review": review,
                "review_current": review is not None and service.review_state(review, words) is not ReviewStatus.DRAFT,
                "current": current,
                "heard": heard,
                "upload": upload,
                "review_form": review_form,
                "decide": decide,
                "problem": problems.get(lang),
                "history": [r for r in history if r.lang == lang],
            }
        )
    ids += [r.recorded_by for r in history]
    return render_template(
        "dashboard/studio/item.html",
        text=text,
        sides=sides,
        people=_people(ids),
        me=me(),
        may_review=allowed(me().role, Permission.REVIEW),
        max_mb=MAX_INPUT_BYTES // (1024 * 1024),
        source_words=SOURCE_WORDS,
        status_words=STATUS_WORDS,
        review_words=REVIEW_WORDS,
        coverage="studio.coverage" in current_app.view_functions,
        done=request.args.get("done", ""),
    ), status


@bp.get("/items/<path:stem>")
@require(Permission.RECORD)
def show(stem: str):
    return _page(_text_or_404(stem))


def _lang_or_400(value: str | None) -> str:
    if value not in LANGS:
        abort(400)
    return value


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@bp.post("/upload/<path:stem>")
@require(Permission.RECORD)
def upload(stem: str):
    """A take from the microphone (``source=browser``, sent by the page's script) or a file from the form."""
    text = _text_or_404(stem)
    form = UploadForm()
    lang = _lang_or_400(form.lang.data)
    source = RecordingSource.BROWSER if form.source.data == "browser" else RecordingSource.UPLOAD
    problem, status = None, 422
    if not form.validate_on_submit():
        problem = _("La page a expiré : rechargez-la, puis réessayez.")
    else:
        sent = request.files.get("file")
        data = sent.read(MAX_INPUT_BYTES + 1) if sent is not None else b""
        if not data:
            problem = _("Choisissez un fichier WAV ou MP3.")
        else:
            try:
                recording = service.store(
                    lang, stem, data, source=source, user=me(), text=text.text.texts.get(lang, ""), now=now()
                )
            except (AudioRefused, service.StudioRefused) as exc:
                problem = str(exc)
            except StorageError:
                problem = _(
                    "Le stockage des enregistrements ne répond pas : rien n'a été gardé. Réessayez dans un moment."
                )
                status = 503
            else:
                action = "studio.keep" if source is RecordingSource.BROWSER else "studio.upload"
                audit.record(action, now(), user=me(), target=stem, lang=lang, recording=recording.id)
                db.session.commit()
                done = url_for(".show", stem=stem, done=f"kept-{lang}", _anchor=f"lang-{lang}")
                if _wants_json():
                    return jsonify(ok=True, url=done), 201
                return redirect(done, code=303)
    db.session.rollback()
    if _wants_json():
        return jsonify(ok=False, error=problem), status
    return _page(text, forms={("upload", lang): form}, problems={lang: problem}, status=status)


@bp.post("/review/<path:stem>")
@require(Permission.REVIEW)
def review(stem: str):
    text = _text_or_404(stem)
    form = ReviewForm()
    lang = _lang_or_400(form.lang.data)
    if not form.validate_on_submit():
        return _page(text, forms={("review", lang): form}, status=422)
    try:
        service.set_review(
            lang,
            stem,
            ReviewStatus(form.status.data),
            reviewer=me(),
            text=text.text.texts.get(lang, ""),
            comment=form.comment.data or "",
            now=now(),
        )
    except service.StudioRefused as exc:
        db.session.rollback()
        form.comment.errors = [*form.comment.errors, str(exc)]
        return _page(text, forms={("review", lang): form}, status=422)
    audit.record("studio.review", now(), user=me(), target=stem, lang=lang, status=form.status.data)
    db.session.commit()
    return redirect(url_for(".show", stem=stem, done=f"reviewed-{lang}", _anchor=f"lang-{lang}"), code=303)


@bp.post("/recordings/<int:recording_id>/<any(approve, reject):decision>")
@require(Permission.REVIEW)
def decide(recording_id: int, decision: str):
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        abort(404)
    text = _text_or_404(recording.stem)
    form = DecideForm()
    if not form.validate_on_submit():
        return _page(text, forms={("decide", recording.lang): form}, status=422)
    try:
        if decision == "approve":
            service.approve(recording, me(), now())
        else:
            service.reject(recording, me(), form.comment.data or "", now())
    except service.StudioRefused as exc:
        db.session.rollback()
        form.comment.errors = [*form.comment.errors, str(exc)]
        return _page(text, forms={("decide", recording.lang): form}, status=422)
    audit.record(
        f"studio.{decision}", now(), user=me(), target=recording.stem, lang=recording.lang, recording=recording.id
    )
    db.session.commit()
    return redirect(
        url_for(".show", stem=recording.stem, done=f"{decision}-{recording.lang}", _anchor=f"lang-{recording.lang}"),
        code=303,
    )


def _send(path: Path | None):
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=MIME.get(path.suffix, "application/octet-stream"), conditional=True, etag=True)
    response.headers["Cache-Control"] = "private, no-cache"  # a kept take replaces the file: always ask again
    return response


@bp.get("/audio/<int:recording_id>")
@require(Permission.RECORD)
def audio(recording_id: int):
    """One recording (current or replaced: a replaced one's file moved to the history)."""
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        abort(404)
    return _send(storage().local_path(recording.file))


@bp.get("/heard/<any(fr, bm):lang>/<path:stem>")
@require(Permission.RECORD)
def heard(lang: str, stem: str):
    """What the line plays for a text nobody recorded here: a file shipped with the content, or the generated
    French voice."""
    _text_or_404(stem)
    base = service.audio_dir()
    return _send(find_recorded(base, lang, stem) or find_generated(base, lang, stem))


@bp.route("/pin", methods=["GET", "POST"])
@require(Permission.RECORD)
def pin():
    form, status, done = PinForm(), 200, False
    user = me()
    if form.validate_on_submit():
        entered = (form.pin.data or "").strip()
        if entered != (form.again.data or "").strip():
            form.again.errors = [*form.again.errors, _("Les deux codes ne sont pas les mêmes.")]
            status = 422
        else:
            was_locked = bool(user.studio_pin_hash) and service.pin_locked(user)
            try:
                service.set_pin(user, entered)
            except service.StudioRefused as exc:
                form.pin.errors = [*form.pin.errors, str(exc)]
                status = 422
            else:
                unlocked = {"unlocked": True} if was_locked else {}
                audit.record("studio.pin", now(), user=user, target=str(user.id), **unlocked)
                db.session.commit()
                done, form = True, PinForm(formdata=None)
    elif form.is_submitted():
        status = 422
    return _pin_page(user, form, done=done, status=status)


@bp.post("/call")
@require(Permission.RECORD)
def call_me():
    """The line calls the phone on the account and opens the studio, without PIN ("Appelez-moi pour enregistrer")."""
    user = me()  # the CSRF token was checked before this view, as for every form (``dashboard.csrf``)
    try:
        session = phone_studio.call_me(user, now())
    except phone_studio.CallRefused as exc:
        db.session.rollback()
        return _pin_page(user, PinForm(formdata=None), call_problem=CALL_REFUSED[exc.reason], status=422)
    audit.record("studio.call_me", now(), user=user, target=f"call:{session.id}", phone=mask_phone(user.phone))
    db.session.commit()
    return redirect(url_for(".pin", called=1, _anchor="call"), code=303)


def _pin_page(user: User, form: PinForm, *, done: bool = False, call_problem: str | None = None, status: int = 200):
    return render_template(
        "dashboard/studio/pin.html",
        form=form,
        call_form=CallMeForm(formdata=None),
        user=user,
        done=done,
        locked=bool(user.studio_pin_hash) and service.pin_locked(user),
        lock_after=service.PIN_LOCK_AFTER,
        called=request.args.get("called") == "1" and call_problem is None,
        call_problem=call_problem,
        current_app_views=current_app.view_functions,
    ), status
