"""Learning analytics: what callers do on the voice line, in the user's scope, filtered by dates, course,
language, group and place.

Six light pages behind one tab bar, each running only its own queries (``analytics.queries``, which read the
pre-aggregated call facts and apply the user's scope: an agent sees the figures of their places and groups):

- ``analytics.index`` (``/dashboard/analytics/``): the voice funnel (calls → answered → chose a language → main
  menu → started a lesson → completed → passed), each step with its count, its share of the step before and of
  the calls; new and returning callers; missed-call callbacks; cost per answered call and per completion;
- ``analytics.menus``: where callers hang up, per menu node (entered, left there, no key, invalid key);
- ``analytics.questions``: right / wrong / first-try right per question and language, with the flags "most
  people miss it" and "nobody misses it"; the question's text comes from the catalog;
- ``analytics.listening``: per lesson and language, the calls that heard at least half, three quarters, or all
  of the lesson's chunks;
- ``analytics.hours``: calls per hour of the day × day of the week (local time);
- ``analytics.learning``: what the courses taught: per course with a test, the listeners' first pre-test and first
  post-test (how many took each, both; the mean scores before and after; the mean gain of those who took both),
  then per test question and language the share right before and after;
- ``analytics.export`` (``/dashboard/analytics/<questions|menus|learning>.csv``): those tables as CSV (permission
  EXPORT, audited before the first byte, like ``dashboard.exports``).

Filters (``FilterForm``): a GET form; the dates default to the last 30 days up to today, in local time, from the
dashboard's clock (``dashboard.access.now``: injectable, never the wall clock in tests). A bad value is named
next to its field and no figure is shown until it is corrected (a misspelt village would otherwise give an
honest-looking zero). Places are typed (as on the listeners list) and checked: a village, commune or region with
nobody in the user's scope is refused with a word, so an agent cannot wander outside their area.

Charts: server-rendered HTML and CSS bars and a little inline SVG, built by the Jinja macros of
``templates/dashboard/analytics/_charts.html``; no JavaScript chart library. The people who read these pages
use cheap Android phones on slow, metered connections: a chart library would add 60-200 kB of script to parse
before anything shows, need a CDN (we vendor everything) or a build step, and draw nothing without JavaScript.
Bars are a ``<div>`` whose width is the share, so they cost a few bytes, print, scale to a 390 px screen and
stay sharp; every chart carries its numbers as text or a table beside the drawing (the drawing is
``aria-hidden``), so a screen reader, a copy-paste or a very small screen loses nothing. htmx (already vendored)
refreshes the page's body when a filter changes; without JavaScript the "Afficher" button does a plain GET.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_babel import format_decimal, format_percent
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, allowed, scoped
from accounts.scope import group_clause, listener_clause
from analytics import queries
from analytics.queries import Filters
from content.catalog import get_catalog
from content.loader import Catalog
from core.db import db
from dashboard.access import me, now, require
from dashboard.exports import MIMETYPES, Column, csv_chunks
from dashboard.listing import ListenerFilter
from listeners.models import Group
from sms.machine import sms_prompt

bp = Blueprint("analytics", __name__, url_prefix="/dashboard/analytics", template_folder="templates")

DEFAULT_DAYS = 30  # the default date range: the last 30 days, today included
MAX_TEXT = 120
LANGUAGE_WORDS = {"bm": _l("bambara"), "fr": _l("français")}
# the tabs: (endpoint, label)
TABS = (
    ("analytics.index", _l("Appels")),
    ("analytics.menus", _l("Menus")),
    ("analytics.questions", _l("Questions")),
    ("analytics.listening", _l("Écoute")),
    ("analytics.hours", _l("Heures")),
    ("analytics.learning", _l("Apprentissage")),
)


@bp.get("/")
@require(Permission.VIEW)
def index():
    return _page("overview", lambda f, user, catalog: overview(f, user))


@bp.get("/menus")
@require(Permission.VIEW)
def menus():
    return _page("menus", lambda f, user, catalog: {"nodes": node_rows(queries.node_dropoff(f, user))})


@bp.get("/questions")
@require(Permission.VIEW)
def questions():
    return _page("questions", lambda f, user, catalog: {"groups": question_groups(queries.question_results(f, user),
                                                                                    catalog),
                                                        "flag_rule": flag_rule()})  # fmt: skip


@bp.get("/listening")
@require(Permission.VIEW)
def listening():
    return _page("listening", lambda f, user, catalog: {"lessons": listening_groups(queries.listening(f, user),
                                                                                     catalog)})  # fmt: skip


@bp.get("/hours")
@require(Permission.VIEW)
def hours():
    return _page("hours", lambda f, user, catalog: {"heat": heatmap(queries.calls_by_hour(f, user))})


@bp.get("/learning")
@require(Permission.VIEW)
def learning():
    def load(f: Filters, user: User, catalog: Catalog) -> dict:
        has_tests = any(c.test("pretest") is not None for c in catalog)
        return {"cards": learning_cards(queries.learning(f, user), catalog), "has_tests": has_tests}

    return _page("learning", load)


@bp.get("/<any(questions, menus, learning):table>.csv")
@require(Permission.EXPORT)
def export(table: str):
    catalog = get_catalog()
    form = FilterForm(request.args, user=me(), catalog=catalog, today=local_today())
    if not form.validate():
        abort(400)
    filters = form.filters()
    if table == "questions":
        columns, rows = QUESTION_COLUMNS, question_csv_rows(queries.question_results(filters, me()), catalog)
    elif table == "learning":
        columns, rows = LEARNING_COLUMNS, learning_csv_rows(queries.learning(filters, me()), catalog)
    else:
        columns, rows = NODE_COLUMNS, node_csv_rows(queries.node_dropoff(filters, me()))
    audit.record(
        "export", now(), user=me(), target=f"export:analytics-{table}", fmt="csv", ip=request.remote_addr or "",
        filter=form.link_args(),
    )  # fmt: skip
    db.session.commit()  # in the audit log before the first byte (a stream's end is not a transaction)
    headers = [str(h) for h, _kind in columns]
    kinds = [kind for _h, kind in columns]
    filename = f"kalanso-analyses-{table}-{now().date().isoformat()}.csv"
    return Response(
        stream_with_context(csv_chunks(headers, kinds, rows)),
        content_type=MIMETYPES["csv"],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _page(view: str, load):
    """Validate the filters, load the view's figures (only when the filters are valid) and render the whole page,
    or only its body when htmx asks (a filter changed)."""
    catalog = get_catalog()
    user = me()
    form = FilterForm(request.args, user=user, catalog=catalog, today=local_today())
    valid = form.validate()
    data = load(form.filters(), user, catalog) if valid else {}
    partial = bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")
    template = "dashboard/analytics/_body.html" if partial else "dashboard/analytics/page.html"
    body = render_template(
        template,
        view=view,
        form=form,
        valid=valid,
        partial=partial,
        tabs=TABS,
        args=form.link_args(),
        exports=allowed(user.role, Permission.EXPORT),
        percent=percent,
        share=share,
        fcfa=fcfa,
        language_words=language_words,
        flag_words=flag_words,
        node_label=node_label,
        points=points,
        **data,
    )
    status = 400 if form.errors and not partial else 200  # htmx swaps only 2xx answers: the errors must show
    return Response(body, status=status, headers={"Vary": "HX-Request"})


# --- filters ---------------------------------------------------------------------------------------------


def local_today() -> date:
    """Today in the deployment's time zone, by the dashboard's clock."""
    return now().astimezone(current_app.config["KALANSO"].tz).date()


class IsoDateField(DateField):
    """A date as ``<input type="date">`` sends it (``YYYY-MM-DD``), with a French error when it is not one."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("Date attendue sous la forme AAAA-MM-JJ (par exemple 2026-11-24).")) from exc


PLACE_ERRORS = {  # scoped (an agent)? -> field -> message
    False: {
        "region": _l("Aucun auditeur dans cette région : vérifiez l'orthographe."),
        "commune": _l("Aucun auditeur dans cette commune : vérifiez l'orthographe."),
        "village": _l("Aucun auditeur dans ce village : vérifiez l'orthographe."),
    },
    True: {
        "region": _l("Personne de votre zone dans cette région : vérifiez l'orthographe."),
        "commune": _l("Personne de votre zone dans cette commune : vérifiez l'orthographe."),
        "village": _l("Personne de votre zone dans ce village : vérifiez l'orthographe."),
    },
}


class FilterForm(FlaskForm):
    """The analytics filters. Choices offered are the user's: their groups, the courses online; places are
    typed and must hold at least one listener of the user's scope."""

    class Meta:
        csrf = False  # a GET form that only reads

    start = IsoDateField(_l("Du"), validators=[Optional()])
    end = IsoDateField(_l("Au"), validators=[Optional()])
    course = SelectField(_l("Cours"), validate_choice=False)
    language = SelectField(_l("Langue"), validate_choice=False)
    group = SelectField(_l("Groupe"), validate_choice=False)
    region = StringField(_l("Région"), validators=[Length(max=MAX_TEXT)])
    commune = StringField(_l("Commune"), validators=[Length(max=MAX_TEXT)])
    village = StringField(_l("Village"), validators=[Length(max=MAX_TEXT)])

    def __init__(self, formdata, *, user: User, catalog: Catalog, today: date):
        super().__init__(formdata, start=today - timedelta(days=DEFAULT_DAYS - 1), end=today)
        self.user = user
        self.course.choices = [SelectChoice("", str(_l("tous")))] + [
            SelectChoice(c.id, c.title.text("fr")) for c in catalog if c.lessons
        ]
        self.language.choices = [SelectChoice("", str(_l("toutes")))] + [
            SelectChoice(k, str(word)) for k, word in LANGUAGE_WORDS.items()
        ]
        groups = db.session.execute(select(Group.id, Group.name).where(group_clause(user)).order_by(Group.name))
        self.group.choices = [SelectChoice("", str(_l("tous")))] + [SelectChoice(str(i), n) for i, n in groups]
        for name in ("region", "commune", "village"):
            self[name].data = " ".join((self[name].data or "").replace("\x00", "").split())

    def _choice(self, field, message) -> None:
        if field.data and field.data not in {c.value for c in field.choices}:
            raise ValidationError(message)

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("La date de fin est avant la date de début."))

    def validate_course(self, field) -> None:
        self._choice(field, _l("Ce cours n'existe pas."))

    def validate_language(self, field) -> None:
        self._choice(field, _l("Choisissez bambara ou français."))

    def validate_group(self, field) -> None:
        self._choice(field, _l("Ce groupe n'existe pas, ou il n'est pas dans votre zone."))

    def validate_region(self, field) -> None:
        self._place(field)

    def validate_commune(self, field) -> None:
        self._place(field)

    def validate_village(self, field) -> None:
        self._place(field)

    def _place(self, field) -> None:
        """A typed place must hold a listener the user may see (the place indexes answer it: one lookup)."""
        if not field.data:
            return
        place = ListenerFilter(**{field.name: field.data}).clauses()
        if not db.session.scalar(select(exists().where(listener_clause(self.user), *place))):
            raise ValidationError(PLACE_ERRORS[scoped(self.user.role)][field.name])

    def summary(self) -> list[str]:
        """The filters chosen besides the dates, in words (shown on the closed "more filters" line)."""
        out = []
        for f in (self.course, self.language, self.group):
            if f.data and not f.errors:
                out += [c.label for c in f.choices if c.value == f.data]
        return out + [f.data for f in (self.region, self.commune, self.village) if f.data and not f.errors]

    def filters(self) -> Filters:
        return Filters(
            start=self.start.data,
            end=self.end.data,
            course_id=self.course.data or None,
            language=self.language.data or None,
            group_id=int(self.group.data) if self.group.data else None,
            region=self.region.data or None,
            commune=self.commune.data or None,
            village=self.village.data or None,
        )

    def link_args(self) -> dict[str, str]:
        """The valid filters as query arguments (tab links, exports, the audit log); a bad value is left out."""
        out = {}
        for name in ("start", "end", "course", "language", "group", "region", "commune", "village"):
            f = self[name]
            if f.errors:
                continue
            value = f.data.isoformat() if isinstance(f.data, date) else (f.data or "")
            if value or name in ("start", "end"):
                out[name] = value  # an empty date is kept: it means "no limit", not the default
        return out


# --- what the pages show ---------------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage in the page's locale; "–" when the whole is zero."""
    return format_percent(part / whole) if whole else "–"


def share(part: int, whole: int) -> float:
    """A bar's width in percent (0-100)."""
    return round(min(max(part / whole, 0.0), 1.0) * 100, 1) if whole else 0.0


def fcfa(amount: Decimal | int | None) -> str:
    """An amount in FCFA, whole francs (the currency has no smaller unit in use)."""
    if amount is None:
        return "–"
    return f"{format_decimal(Decimal(amount).quantize(Decimal(1), ROUND_HALF_UP))} FCFA"


def language_words(lang: str | None) -> str:
    word = LANGUAGE_WORDS.get(lang or "")
    return str(word) if word is not None else (lang or str(_l("langue inconnue")))


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    count: int
    of_previous: int | None  # the step before's count (None for the first step)
    of_calls: int  # the calls (the funnel's top)


FUNNEL_WORDS = (
    ("calls", _l("Appels")),
    ("answered", _l("Décrochés")),
    ("chose_language", _l("Langue choisie (ou déjà connue)")),
    ("reached_main", _l("Menu principal atteint")),
    ("started_lesson", _l("Leçon commencée")),
    ("completed", _l("Leçon terminée")),
    ("passed", _l("Réussie (au moins la moitié juste)")),
)


def funnel_steps(funnel) -> list[Step]:
    steps, previous = [], None
    for key, label in FUNNEL_WORDS:
        count = getattr(funnel, key)
        steps.append(Step(key, str(label), count, previous, funnel.calls))
        previous = count
    return steps


def overview(filters: Filters, user: User) -> dict:
    funnel = queries.voice_funnel(filters, user)
    new, returning = queries.new_vs_returning(filters, user)
    return {
        "steps": funnel_steps(funnel),
        "callers": (new, returning),
        "callbacks": queries.callbacks(filters, user),
        "costs": queries.costs(filters, user),
    }


# the menu nodes of ivr/menu.py in plain words (a node not listed shows its own name)
NODE_WORDS = {
    "language": _l("Choix de la langue"),
    "main": _l("Menu principal"),
    "courses": _l("Liste des cours"),
    "lessons": _l("Liste des leçons"),
    "lesson": _l("Pendant la leçon"),
    "lesson_end": _l("Fin de la leçon"),
    "campaign_end": _l("Fin de la leçon (appel de campagne)"),
    "opt_out_confirm": _l("Confirmation de la désinscription"),
}


def node_label(node: str) -> str:
    word = NODE_WORDS.get(node)
    return str(word) if word is not None else node


@dataclass(frozen=True)
class NodeLine:
    node: str
    label: str
    entered: int
    left_here: int
    timed_out: int
    invalid: int

    @property
    def left_share(self) -> float:
        return share(self.left_here, self.entered)


def node_rows(rows: Iterable) -> list[NodeLine]:
    return [NodeLine(r.node, node_label(r.node), r.entered, r.left_here, r.timed_out, r.invalid) for r in rows]


@dataclass
class QuestionGroup:
    """One question of a lesson, with a line per language."""

    course_id: str
    lesson_id: str
    question_id: str
    course_title: str
    lesson_title: str
    number: int | None  # its place among the lesson's questions (1-based), when the catalog knows it
    text: str  # the question in French, from the catalog ("" when it is gone from the content)
    lines: list = field(default_factory=list)  # QuestionRow per language

    @property
    def flags(self) -> set[str]:
        return {r.flag for r in self.lines if r.flag}


def question_groups(rows: Iterable, catalog: Catalog) -> list[QuestionGroup]:
    """The rows grouped by question, in the catalog's order (questions it no longer holds come last)."""
    groups: dict[tuple[str, str, str], QuestionGroup] = {}
    for row in rows:
        key = (row.course_id, row.lesson_id, row.question_id)
        if key not in groups:
            groups[key] = _question_group(catalog, *key)
        groups[key].lines.append(row)
    for group in groups.values():
        group.lines.sort(key=lambda r: (r.lang != "bm", r.lang))  # Bambara first, as the line offers it
    order = {key: n for n, key in enumerate(_catalog_questions(catalog))}
    return sorted(groups.values(), key=lambda g: order.get((g.course_id, g.lesson_id, g.question_id), len(order)))


def _catalog_questions(catalog: Catalog) -> Iterator[tuple[str, str, str]]:
    for course in catalog:
        for lesson in course.lessons:
            for question in lesson.questions:
                yield course.id, lesson.id, question.id


def _question_group(catalog: Catalog, course_id: str, lesson_id: str, question_id: str) -> QuestionGroup:
    course_title, lesson_title, number, text = course_id, lesson_id, None, ""
    course = catalog.courses.get(course_id)
    if course is not None:
        course_title = course.title.text("fr")
        lesson = next((x for x in course.lessons if x.id == lesson_id), None)
        if lesson is not None:
            lesson_title = lesson.title.text("fr")
            for n, question in enumerate(lesson.questions, 1):
                if question.id == question_id:
                    number, text = n, question.prompt.text("fr")
    return QuestionGroup(course_id, lesson_id, question_id, course_title, lesson_title, number, text)


@dataclass
class LessonListening:
    course_title: str
    lesson_title: str
    lines: list = field(default_factory=list)  # ListeningRow per language


def listening_groups(rows: Iterable, catalog: Catalog) -> list[LessonListening]:
    groups: dict[tuple[str, str], LessonListening] = {}
    for row in rows:
        key = (row.course_id, row.lesson_id)
        if key not in groups:
            course_title, lesson_title = _lesson_titles(catalog, *key)
            groups[key] = LessonListening(course_title, lesson_title)
        groups[key].lines.append(row)
    for group in groups.values():
        group.lines.sort(key=lambda r: (r.lang != "bm", r.lang))
    return list(groups.values())


def _lesson_titles(catalog: Catalog, course_id: str, lesson_id: str) -> tuple[str, str]:
    course = catalog.courses.get(course_id)
    if course is None:
        return course_id, lesson_id
    lesson = next((x for x in course.lessons if x.id == lesson_id), None)
    return course.title.text("fr"), lesson.title.text("fr") if lesson is not None else lesson_id


def points(gain: Decimal | None) -> str:
    """A gain in points of percent, signed, in the page's locale ("+12,5 points"); "–" when unknown."""
    if gain is None:
        return "–"
    sign = "+" if gain > 0 else "−" if gain < 0 else ""
    return str(_l("%(sign)s%(n)s pt", sign=sign, n=format_decimal(abs(gain))))


@dataclass
class LearningQuestion:
    """One test question: its place in the test, its French text, a line per language."""

    question_id: str
    number: int | None
    text: str
    lines: list = field(default_factory=list)  # QuestionBeforeAfter per language


@dataclass
class LearningCard:
    course_id: str
    title: str
    figures: queries.CourseLearning | None  # None: nobody completed a test of the course in the range
    questions: list[LearningQuestion] = field(default_factory=list)


def learning_cards(result: queries.Learning, catalog: Catalog) -> list[LearningCard]:
    """A card per course whose tests someone completed, with its questions in the test's order."""
    cards: dict[str, LearningCard] = {}
    for figures in result.courses:
        course = catalog.courses.get(figures.course_id)
        title = course.title.text("fr") if course is not None else figures.course_id
        cards[figures.course_id] = LearningCard(figures.course_id, title, figures)
    for row in result.questions:
        card = cards.get(row.course_id)
        if card is None:
            continue
        if not card.questions or card.questions[-1].question_id != row.question_id:
            number, text = _test_question(catalog, row.course_id, row.question_id)
            card.questions.append(LearningQuestion(row.question_id, number, text))
        card.questions[-1].lines.append(row)
    return list(cards.values())


def _test_question(catalog: Catalog, course_id: str, question_id: str) -> tuple[int | None, str]:
    course = catalog.courses.get(course_id)
    test = course.test("pretest") if course is not None else None
    for n, question in enumerate(test.questions if test is not None else (), 1):
        if question.id == question_id:  # without "Pour oui, tapez 1..." (the options are in the table's words)
            return n, sms_prompt(question.prompt.text("fr"))
    return None, ""


DAY_NAMES = (_l("le lundi"), _l("le mardi"), _l("le mercredi"), _l("le jeudi"), _l("le vendredi"), _l("le samedi"),
             _l("le dimanche"))  # fmt: skip
WEEKDAYS = (_l("lun."), _l("mar."), _l("mer."), _l("jeu."), _l("ven."), _l("sam."), _l("dim."))
HEAT_LEVELS = 5  # 0: no call; 1-4: quarters of the busiest hour


@dataclass(frozen=True)
class Heatmap:
    grid: list[list[int]]  # [weekday 0 = Monday][hour 0-23]
    busiest: int
    total: int
    by_day: list[int]
    by_hour: list[int]
    first_hour: int  # the rows shown: from the first hour with a call (or 6h) ...
    last_hour: int  # ... to the last one (or 21h), so that a phone does not scroll through empty nights

    def level(self, count: int) -> int:
        if count <= 0 or self.busiest <= 0:
            return 0
        return min(HEAT_LEVELS - 1, 1 + (count * (HEAT_LEVELS - 1) - 1) // self.busiest)

    @property
    def days(self) -> list[str]:
        return [str(w) for w in WEEKDAYS]

    @property
    def day_names(self) -> list[str]:
        return [str(w) for w in DAY_NAMES]

    @property
    def peak(self) -> tuple[int, int] | None:
        """(weekday, hour) of the busiest cell, the first one when several tie."""
        if self.busiest <= 0:
            return None
        for d, row in enumerate(self.grid):
            for h, n in enumerate(row):
                if n == self.busiest:
                    return d, h
        return None


def heatmap(grid: list[list[int]]) -> Heatmap:
    grid = [list(row) for row in grid]
    by_hour = [sum(grid[d][h] for d in range(7)) for h in range(24)]
    used = [h for h, n in enumerate(by_hour) if n]
    first = min([6, *used[:1]])
    last = max([21, *used[-1:]])
    return Heatmap(
        grid=grid,
        busiest=max((n for row in grid for n in row), default=0),
        total=sum(by_hour),
        by_day=[sum(row) for row in grid],
        by_hour=by_hour,
        first_hour=first,
        last_hour=last,
    )


# --- CSV --------------------------------------------------------------------------------------------------

QUESTION_COLUMNS: list[Column] = [
    (_l("Cours"), "text"),
    (_l("Leçon"), "text"),
    (_l("Question"), "text"),
    (_l("Texte de la question"), "text"),
    (_l("Langue"), "text"),
    (_l("Réponses"), "int"),
    (_l("Justes"), "int"),
    (_l("Fausses"), "int"),
    (_l("Justes du premier coup"), "int"),
    (_l("Part juste"), "percent"),
    (_l("Remarque"), "text"),
]
NODE_COLUMNS: list[Column] = [
    (_l("Étape du menu"), "text"),
    (_l("Code"), "text"),
    (_l("Entrés"), "int"),
    (_l("Ont raccroché ici"), "int"),
    (_l("Part qui a raccroché ici"), "percent"),
    (_l("Sans touche (délai dépassé)"), "int"),
    (_l("Touche invalide"), "int"),
]
LEARNING_COLUMNS: list[Column] = [
    (_l("Cours"), "text"),
    (_l("Question"), "text"),
    (_l("Texte de la question"), "text"),
    (_l("Langue"), "text"),
    (_l("Réponses avant (quiz de départ)"), "int"),
    (_l("Justes avant"), "int"),
    (_l("Part juste avant"), "percent"),
    (_l("Réponses après (quiz final)"), "int"),
    (_l("Justes après"), "int"),
    (_l("Part juste après"), "percent"),
]
FLAG_WORDS = {"most_miss": _l("la plupart se trompent"), "nobody_misses": _l("personne ne se trompe")}


def flag_rule() -> dict[str, str]:
    """When a question is flagged (``analytics.queries``' thresholds), for the page's note."""
    return {
        "n": str(queries.MIN_ANSWERS_TO_FLAG),
        "low": format_percent(queries.MOST_MISS_BELOW),
        "high": format_percent(queries.NOBODY_MISSES_FROM),
    }


def flag_words(flag: str | None) -> str:
    word = FLAG_WORDS.get(flag or "")
    return str(word) if word is not None else ""


def question_csv_rows(rows: Iterable, catalog: Catalog) -> Iterator[tuple]:
    for group in question_groups(rows, catalog):
        for r in group.lines:
            right_share = r.right / r.answers if r.answers else None
            yield (
                group.course_title, group.lesson_title, r.question_id, group.text, language_words(r.lang),
                r.answers, r.right, r.wrong, r.first_try_right, right_share, flag_words(r.flag),
            )  # fmt: skip


def node_csv_rows(rows: Iterable) -> Iterator[tuple]:
    for line in node_rows(rows):
        left = line.left_here / line.entered if line.entered else None
        yield (line.label, line.node, line.entered, line.left_here, left, line.timed_out, line.invalid)


def learning_csv_rows(result: queries.Learning, catalog: Catalog) -> Iterator[tuple]:
    """One line per test question and language (the cards' figures are on the page)."""
    for card in learning_cards(result, catalog):
        for question in card.questions:
            for r in question.lines:
                yield (
                    card.title, r.question_id, question.text, language_words(r.lang),
                    r.pre_answers, r.pre_right, r.pre_right / r.pre_answers if r.pre_answers else None,
                    r.post_answers, r.post_right, r.post_right / r.post_answers if r.post_answers else None,
                )  # fmt: skip
