"""Listeners: the list (search, filters, keyset pages), a listener's record, editing a profile and its groups,
and an opt-out recorded on the person's request.

Every read goes through the user's scope (``dashboard.listing`` for the list, ``listener_or_404`` for one
person: out of scope answers 404); every change is audited (field names only, never a phone number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField, TelField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, allowed
from accounts.scope import group_clause, may_register
from content.catalog import get_catalog
from content.loader import Catalog
from content.model import POST_TEST, PRE_TEST
from core.db import db
from core.phones import InvalidPhone, normalize_phone
from dashboard.access import listener_or_404, me, now, require
from dashboard.listing import (
    CONSENTS,
    LANGUAGES,
    PROGRESS,
    ListenerFilter,
    count_listeners,
    listeners_page,
    parse_cursor,
)
from ivr.models import CallSession
from listeners import service
from listeners.models import (
    ConsentEvent,
    Group,
    LessonCompletion,
    LessonProgress,
    Listener,
    ProgressStatus,
    QuizAnswer,
)
from sms.models import Message

bp = Blueprint("listeners", __name__, url_prefix="/dashboard/listeners", template_folder="templates")

TIMELINE = 60  # calls and SMS on a record, newest first (a slow phone; the rest is in the exports)
ANSWERS = 300  # quiz answers on a record, newest first


@bp.get("/")
@require(Permission.VIEW)
def index():
    catalog = get_catalog()
    flt = ListenerFilter.from_args(request.args, catalog)
    after = parse_cursor(request.args.get("after"))
    page = listeners_page(me(), flt, after=after)
    if request.headers.get("HX-Request") and after is not None:  # "see the next ones": only the rows
        return render_template("dashboard/listeners/_rows.html", flt=flt, page=page, after=after)
    total, more = count_listeners(me(), flt) if after is None else (None, False)
    choices = _filter_choices(catalog)
    return render_template(
        "dashboard/listeners/index.html", flt=flt, page=page, after=after, total=total, more=more, **choices
    )


@bp.get("/<int:listener_id>")
@require(Permission.VIEW)
def show(listener_id: int):
    listener = listener_or_404(listener_id)
    record = load_record(listener, get_catalog())
    may_edit = allowed(me().role, Permission.EDIT_LISTENERS)
    visible = {g.id for g in _visible_groups(me())}
    groups = [g for g in listener.groups if g.id in visible]  # an agent sees only their own groups' names
    others = len(listener.groups) - len(groups)
    return render_template(
        "dashboard/listeners/show.html", person=listener, record=record, may_edit=may_edit, groups=groups, others=others
    )


@bp.route("/<int:listener_id>/edit", methods=["GET", "POST"])
@require(Permission.EDIT_LISTENERS)
def edit(listener_id: int):
    listener = listener_or_404(listener_id)
    user = me()
    form = EditForm(obj=None if request.method == "POST" else _form_data(listener))
    visible = _visible_groups(user)
    form.groups.choices = [SelectChoice(g.id, g.name) for g in visible]
    if form.validate_on_submit() and update_listener(listener, form, user, {g.id for g in visible}, now()):
        db.session.commit()
        flash(_("Profil enregistré."))
        return redirect(url_for("listeners.show", listener_id=listener.id))
    status = 400 if request.method == "POST" else 200
    return render_template("dashboard/listeners/edit.html", person=listener, form=form), status


@bp.route("/<int:listener_id>/opt-out", methods=["GET", "POST"])
@require(Permission.EDIT_LISTENERS)
def opt_out(listener_id: int):
    """The person asked to stop: a confirmation page, then the opt-out (every channel, pending traffic cancelled)."""
    listener = listener_or_404(listener_id)
    form = FlaskForm()
    if form.validate_on_submit():
        user, moment = me(), now()
        if service.opt_out(listener, moment, "dashboard", by=user.id):
            audit.record("listener_opted_out", moment, user=user, target=f"listener:{listener.id}")
            db.session.commit()
            flash(_("Désinscription enregistrée : plus aucun appel ni SMS ne partira vers cette personne."))
        return redirect(url_for("listeners.show", listener_id=listener.id))
    return render_template("dashboard/listeners/opt_out.html", person=listener, form=form)


@bp.context_processor
def _words() -> dict:
    return {
        "status_words": lambda status: str(STATUS_WORDS.get(ProgressStatus(status), status)),
        "consent_action": lambda action: str(CONSENT_ACTIONS.get(action, action)),
        "channel_words": lambda channel: str(CHANNEL_WORDS.get(str(channel), channel)),
    }


# --- the list's filter form ---------------------------------------------------------------------------------

LANGUAGE_WORDS = {"bm": _l("bambara"), "fr": _l("français"), "none": _l("pas encore choisie")}
CONSENT_WORDS = {
    "active": _l("peut être contacté"),
    "opted_out": _l("désinscrit"),
    "never": _l("aucun accord enregistré"),
}
PROGRESS_WORDS = {
    "completed": _l("a terminé la leçon"),
    "not_completed": _l("n'a pas terminé la leçon"),
    "started_not_finished": _l("a commencé sans finir"),
    "not_started": _l("n'a pas commencé la leçon"),
}


def _filter_choices(catalog: Catalog) -> dict:
    lessons = [
        (f"{course.id}/{lesson.id}", f"{course.title.text('fr')} · {lesson.title.text('fr')}")
        for course in catalog
        for lesson in course.lessons
    ]
    return {
        "groups": _visible_groups(me()),
        "lessons": lessons,
        "languages": [(k, LANGUAGE_WORDS[k]) for k in LANGUAGES],
        "consents": [(k, CONSENT_WORDS[k]) for k in CONSENTS],
        "progresses": [(k, PROGRESS_WORDS[k]) for k in PROGRESS],
        "exports": "exports.listeners" in current_app.view_functions,
    }


def _visible_groups(user: User) -> list[Group]:
    """The groups a user may see and choose: all of them, or an agent's own (``group_clause``)."""
    return list(db.session.scalars(select(Group).where(group_clause(user)).order_by(Group.name, Group.id)))


# --- editing a profile --------------------------------------------------------------------------------------


class EditForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[Length(max=200)])
    phone = TelField(_l("Numéro de téléphone"), validators=[DataRequired(_l("Le numéro est obligatoire."))])
    village = StringField(_l("Village"), validators=[Length(max=120)])
    commune = StringField(_l("Commune"), validators=[Length(max=120)])
    region = StringField(_l("Région"), validators=[Length(max=120)])
    language = SelectField(
        _l("Langue"),
        choices=[
            SelectChoice(k, word)
            for k, word in (("", _l("pas encore choisie")), ("bm", _l("bambara")), ("fr", _l("français")))
        ],
    )
    groups = SelectMultipleField(
        _l("Groupes"), coerce=int, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )


@dataclass
class _Profile:
    name: str
    phone: str
    village: str
    commune: str
    region: str
    language: str
    groups: list[int]


def _form_data(listener: Listener) -> _Profile:
    return _Profile(
        name=listener.name,
        phone=listener.phone,
        village=listener.village,
        commune=listener.commune,
        region=listener.region,
        language=listener.language or "",
        groups=[g.id for g in listener.groups],
    )


def update_listener(listener: Listener, form: EditForm, user: User, choosable: set[int], moment: datetime) -> bool:
    """Apply the form to the listener, or put the errors next to their fields and change nothing.

    Groups the user cannot see (an agent's, outside their own) are kept as they are. An agent may not move a
    listener out of their own scope (``may_register``). Audited with the changed fields' names."""
    try:
        phone = normalize_phone(form.phone.data)
    except InvalidPhone:
        form.phone.errors.append(_("Ce n'est pas un numéro du Mali (8 chiffres, par exemple 76 12 34 56)."))
        return False
    if phone != listener.phone and db.session.scalar(select(Listener.id).where(Listener.phone == phone)):
        form.phone.errors.append(_("Ce numéro est déjà celui d'un autre auditeur."))
        return False
    places = {k: " ".join((getattr(form, k).data or "").split()) for k in ("village", "commune", "region")}
    kept = {g.id for g in listener.groups if g.id not in choosable}
    group_ids = kept | (set(form.groups.data or []) & choosable)
    if not may_register(user, group_ids=group_ids, **places):
        form.village.errors.append(_("Ce village, cette commune ou ces groupes sortent de votre zone."))
        return False
    changed = []
    for name, value in (("name", " ".join((form.name.data or "").split())), ("phone", phone), *places.items()):
        if getattr(listener, name) != value:
            setattr(listener, name, value)
            changed.append(name)
    language = form.language.data or None
    if language != listener.language:
        listener.set_language(language, f"user:{user.id}")
        changed.append("language")
    if group_ids != {g.id for g in listener.groups}:
        listener.groups = list(db.session.scalars(select(Group).where(Group.id.in_(group_ids)))) if group_ids else []
        changed.append("groups")
    if changed:
        audit.record("listener_updated", moment, user=user, target=f"listener:{listener.id}", fields=changed)
    return True


# --- a listener's record ------------------------------------------------------------------------------------

STATUS_WORDS = {
    ProgressStatus.NOT_STARTED: _l("pas commencée"),
    ProgressStatus.IN_PROGRESS: _l("commencée"),
    ProgressStatus.COMPLETED: _l("terminée"),
}
CONSENT_ACTIONS = {"consent": _l("accord donné"), "opt_out": _l("désinscription"), "opt_in": _l("réinscription")}
CHANNEL_WORDS = {
    "voice": _l("par appel"),
    "sms": _l("par SMS"),
    "import": _l("par import de fichier"),
    "agent": _l("auprès d'un agent"),
    "dashboard": _l("sur le tableau de bord"),
    "api": _l("par l'API"),
}
# the menu nodes of a call's path (ivr/menu.py MENU_NODES and the nodes a call ends on), in plain words
NODE_WORDS = {
    "language": _l("choix de la langue"),
    "main": _l("menu principal"),
    "courses": _l("liste des cours"),
    "lessons": _l("liste des leçons"),
    "lesson": _l("leçon"),
    "lesson_end": _l("fin de la leçon"),
    "campaign_end": _l("fin de la leçon"),
    "opt_out_confirm": _l("confirmation de la désinscription"),
    "end": _l("fin de l'appel"),
    "opted_out": _l("désinscription"),
    "goodbye": _l("au revoir"),
    "sorry": _l("problème technique"),
    "rejected": _l("appel refusé, rappel gratuit"),
}


def node_words(node: object) -> str:
    word = NODE_WORDS.get(str(node))
    return str(word) if word is not None else str(node)


def language_setter(listener: Listener) -> str:
    """``language_set_by`` in words."""
    by = listener.language_set_by or ""
    if by == "voice":
        return _("l'auditeur, pendant un appel")
    if by == "sms":
        return _("l'auditeur, par SMS")
    if by == "import":
        return _("un import de fichier")
    if by == "default":
        return _("la langue par défaut (pas de choix)")
    if by.startswith("user:") and by[5:].isdigit():
        user = db.session.get(User, int(by[5:]))
        return _("%(who)s, sur le tableau de bord", who=(user.name or user.email) if user else f"#{by[5:]}")
    return _("une source inconnue")


@dataclass
class LessonLine:
    title: str
    progress: LessonProgress
    completions: list[LessonCompletion]


@dataclass
class Event:
    at: datetime
    kind: str  # call | sms
    row: CallSession | Message
    path: list[tuple[str, str]]  # a call's menu nodes: (time, words)


@dataclass
class Record:
    consent: list[tuple[ConsentEvent, str]]  # the event and who recorded it (a dashboard user's name)
    language_by: str
    lessons: list[LessonLine]
    answers: list[tuple[QuizAnswer, str, str]]  # the answer, the lesson's title, the option's text
    answers_cut: bool
    timeline: list[Event]
    tests: list[TestLine]  # the courses with a pre-test and post-test, and what this listener scored


@dataclass(frozen=True)
class TestLine:
    """One course's learning, measured: the first pre-test and the first post-test (``listeners.progress``)."""

    course: str  # its title
    pre: LessonCompletion | None
    post: LessonCompletion | None

    @property
    def gain(self) -> int | None:
        return None if self.pre is None or self.post is None else self.post.score - self.pre.score


def load_record(listener: Listener, catalog: Catalog) -> Record:
    """Everything the record page shows, read in a handful of indexed queries (by ``listener_id``)."""
    events = list(
        db.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.listener_id == listener.id)
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
    )
    user_ids = {e.user_id for e in events if e.user_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    consent = [(e, (users[e.user_id].name or users[e.user_id].email) if e.user_id in users else "") for e in events]
    progress = db.session.scalars(
        select(LessonProgress).where(LessonProgress.listener_id == listener.id).order_by(LessonProgress.started_at)
    )
    completions: dict[tuple[str, str], list[LessonCompletion]] = {}
    for c in db.session.scalars(
        select(LessonCompletion)
        .where(LessonCompletion.listener_id == listener.id)
        .order_by(LessonCompletion.completed_at, LessonCompletion.attempt)
    ):
        completions.setdefault((c.course_id, c.lesson_id), []).append(c)
    lessons = [
        LessonLine(_lesson_title(catalog, p.course_id, p.lesson_id), p, completions.get((p.course_id, p.lesson_id), []))
        for p in progress
    ]
    answers = list(
        db.session.scalars(
            select(QuizAnswer)
            .where(QuizAnswer.listener_id == listener.id)
            .order_by(QuizAnswer.answered_at.desc(), QuizAnswer.id.desc())
            .limit(ANSWERS + 1)
        )
    )
    answered = [
        (a, _lesson_title(catalog, a.course_id, a.lesson_id), _option_text(catalog, a)) for a in answers[:ANSWERS]
    ]

    def first(course_id: str, lesson_id: str) -> LessonCompletion | None:
        runs = completions.get((course_id, lesson_id), [])
        return min(runs, key=lambda c: c.attempt) if runs else None

    tests = [
        TestLine(c.title.text("fr"), first(c.id, PRE_TEST), first(c.id, POST_TEST))
        for c in catalog
        if c.test("pretest") is not None
    ]
    return Record(
        consent=consent,
        language_by=language_setter(listener),
        lessons=lessons,
        answers=answered,
        answers_cut=len(answers) > ANSWERS,
        timeline=_timeline(listener),
        tests=[t for t in tests if t.pre is not None or t.post is not None],
    )


def _timeline(listener: Listener) -> list[Event]:
    calls = db.session.scalars(
        select(CallSession)
        .where(CallSession.listener_id == listener.id)
        .order_by(CallSession.created_at.desc(), CallSession.id.desc())
        .limit(TIMELINE)
    )
    messages = db.session.scalars(
        select(Message)
        .where(Message.listener_id == listener.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(TIMELINE)
    )
    out = [Event(c.created_at, "call", c, _path(c.path)) for c in calls]
    out += [Event(m.created_at, "sms", m, []) for m in messages]
    out.sort(key=lambda e: (e.at, e.kind == "sms", e.row.id), reverse=True)
    return out[:TIMELINE]


def _path(path: object) -> list[tuple[str, str]]:
    """``[[iso time, node], ...]`` → ``[("10:02", "menu principal"), ...]`` (junk entries are skipped)."""
    out = []
    for entry in path if isinstance(path, list) else []:
        if isinstance(entry, list | tuple) and len(entry) == 2:
            at, node = entry
            try:
                clock = datetime.fromisoformat(str(at)).strftime("%H:%M:%S")
            except ValueError:
                clock = ""
            out.append((clock, node_words(node)))
    return out


def _lesson_title(catalog: Catalog, course_id: str, lesson_id: str) -> str:
    try:
        course = catalog.course(course_id)
        return f"{course.title.text('fr')} · {course.lesson(lesson_id).title.text('fr')}"
    except KeyError:
        return f"{course_id} · {lesson_id}"  # a lesson since removed from the content: its ids


def _option_text(catalog: Catalog, answer: QuizAnswer) -> str:
    try:
        lesson = catalog.lesson(answer.course_id, answer.lesson_id)
        question = next(q for q in lesson.questions if q.id == answer.question_id)
        option = next(o for o in question.options if o.key == answer.option_key)
    except (KeyError, StopIteration):
        return ""
    return option.label.get("fr") or next(iter(option.label.values()), "")
