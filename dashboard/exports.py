"""Exports: CSV and XLSX downloads of a listener list, of the completion matrix and of the quiz answers.

- ``exports.listeners`` (``/dashboard/exports/listeners.<csv|xlsx>``): the same arguments as the listeners list
  (``dashboard.listing.ListenerFilter``), plus ``score=under_half`` (with a lesson: completed it with a best score
  under half: the follow-up list);
- ``exports.completion`` (``/dashboard/exports/completion.<fmt>?course=&by=village|group``): the whole matrix;
- ``exports.answers`` (``/dashboard/exports/answers.<fmt>?lesson=<course>[/<lesson>]&start=&end=``): every quiz
  answer; ``exports.answers_form`` (``/dashboard/exports/answers``) is the form that builds that link.

Always inside the user's scope; each export is written to the audit log *before* the first byte (a stream's end
is not a transaction), with its filter and format. Rows are read in batches of ``BATCH`` by keyset (``id >``),
as plain tuples (no ORM objects kept), and written as they come: memory stays flat whatever the row count
(``bench/exports.py``). The XLSX is written by XlsxWriter in ``constant_memory`` mode to a temporary file, then
streamed; a sheet holds at most 1,048,576 rows, more go on the next sheet.

The file formats, chosen for Excel as used in Mali (French Windows):
- CSV: UTF-8 with a byte-order mark (Excel then reads the accents right), ``;`` between cells (French Excel's
  list separator; ``,`` is its decimal mark), CRLF line ends; percentages as whole numbers (no decimal mark to
  misread); dates in ISO 8601 (UTC, which is Bamako's time).
- Formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  leading ``'`` in the CSV (Excel would run it as a formula). Phone numbers are the exception: they are
  validated E.164 numbers (``+`` and digits only, never a formula) and stay exactly ``+223…`` so that they can
  be searched and re-imported. (French Excel shows such a CSV cell as a number, without the ``+``: open the XLSX
  to keep it.) In the XLSX every text, phones included, is a string cell: never a formula, ``+223`` kept.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta

import xlsxwriter
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import ColumnElement, Select, and_, select
from wtforms import DateField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError

from accounts import audit
from accounts.roles import Permission
from accounts.scope import listener_clause
from content.catalog import get_catalog
from content.loader import Catalog
from core.db import db
from core.phones import mask_phone
from dashboard.access import me, now, require
from dashboard.completion import check_place, completion_matrix, pick_course, score_under_half
from dashboard.listing import ListenerFilter
from listeners.models import Group, Listener, QuizAnswer, listener_groups

bp = Blueprint("exports", __name__, url_prefix="/dashboard/exports", template_folder="templates")

FORMATS = ("csv", "xlsx")
BATCH = 1000
CSV_SEPARATOR = ";"
XLSX_MAX_ROWS = 1_048_576  # per sheet, the header included
CHUNK = 64 * 1024
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# a column: (header, kind); kinds: text, phone, int, bool, date, percent
Column = tuple[object, str]


@bp.get("/listeners.<fmt>")
@require(Permission.EXPORT)
def listeners(fmt: str):
    fmt = _format(fmt)
    flt = ListenerFilter.from_args(request.args, get_catalog())
    check_place(me(), flt)
    extra = [score_under_half(flt.lesson)] if flt.lesson and request.args.get("score") == "under_half" else []
    where = [listener_clause(me()), *flt.clauses(), *extra]
    described = {**flt.args(), **({"score": "under_half"} if extra else {})}
    if "q" in described:  # a search may be a phone number: never in clear in the audit log
        described["q"] = mask_phone(described["q"])
    _record(fmt, "export:listeners", filter=described)
    return _send(fmt, "auditeurs", LISTENER_COLUMNS, listener_rows(where))


@bp.get("/completion.<fmt>")
@require(Permission.EXPORT)
def completion(fmt: str):
    fmt = _format(fmt)
    course = pick_course(get_catalog(), request.args.get("course", ""))
    if course is None:
        return redirect(url_for("completion.index"))
    by = "group" if request.args.get("by") == "group" else "village"
    matrix = completion_matrix(me(), course, by, limit=None)
    _record(fmt, "export:completion", filter={"course": course.id, "by": by})
    return _send(fmt, f"suivi-{course.id}", *matrix_table(matrix))


@bp.get("/answers")
@require(Permission.EXPORT)
def answers_form():
    form = AnswersForm(request.args, catalog=get_catalog())
    if request.args and form.validate():
        return redirect(url_for("exports.answers", fmt=form.fmt.data or "xlsx", **form.link_args()))
    status = 400 if request.args and form.errors else 200
    return render_template("dashboard/completion/answers.html", form=form), status


@bp.get("/answers.<fmt>")
@require(Permission.EXPORT)
def answers(fmt: str):
    fmt = _format(fmt)
    form = AnswersForm(request.args, catalog=get_catalog())
    if not form.validate():
        return redirect(url_for("exports.answers_form", **{**request.args.to_dict(), "fmt": fmt}))
    _record(fmt, "export:answers", filter=form.link_args())
    return _send(fmt, "reponses", ANSWER_COLUMNS, answer_rows([listener_clause(me()), *form.clauses()]))


# --- listeners --------------------------------------------------------------------------------------------

LISTENER_COLUMNS: list[Column] = [
    (_l("Numéro"), "int"),
    (_l("Téléphone"), "phone"),
    (_l("Nom"), "text"),
    (_l("Village"), "text"),
    (_l("Commune"), "text"),
    (_l("Région"), "text"),
    (_l("Langue"), "text"),
    (_l("Groupes"), "text"),
    (_l("Consentement le"), "date"),
    (_l("Désinscrit"), "bool"),
    (_l("Inscrit le"), "date"),
    (_l("Dernier contact"), "date"),
]


def listener_rows(where: Sequence[ColumnElement[bool]]) -> Iterator[tuple]:
    """The listeners matching ``where``, in id order, read ``BATCH`` at a time."""
    query = select(
        Listener.id,
        Listener.phone,
        Listener.name,
        Listener.village,
        Listener.commune,
        Listener.region,
        Listener.language,
        Listener.consent_at,
        Listener.opted_out,
        Listener.created_at,
        Listener.last_contact_at,
    ).where(*where)
    for batch in _batches(query, Listener.id):
        ids = [r.id for r in batch]
        groups: dict[int, list[str]] = {}
        for listener_id, name in db.session.execute(
            select(listener_groups.c.listener_id, Group.name)
            .join(Group, Group.id == listener_groups.c.group_id)
            .where(listener_groups.c.listener_id.in_(ids))
            .order_by(Group.name)
        ):
            groups.setdefault(listener_id, []).append(name)
        for r in batch:
            yield (
                r.id, r.phone, r.name, r.village, r.commune, r.region, r.language or "",
                ", ".join(groups.get(r.id, ())), r.consent_at, r.opted_out, r.created_at, r.last_contact_at,
            )  # fmt: skip


def _batches(query: Select, key) -> Iterator[list]:
    """``query`` in pages of ``BATCH`` rows by keyset on ``key`` (an increasing, unique column)."""
    last = None
    while True:
        page = query.order_by(key).limit(BATCH)
        if last is not None:
            page = page.where(key > last)
        batch = db.session.execute(page).all()
        if batch:
            yield batch
        if len(batch) < BATCH:
            return
        last = batch[-1][0]


# --- the completion matrix --------------------------------------------------------------------------------


def matrix_table(matrix) -> tuple[list[Column], Iterator[tuple]]:
    columns: list[Column] = [(_l("Village") if matrix.by == "village" else _l("Groupe"), "text"),
                             (_l("Auditeurs"), "int")]  # fmt: skip
    for n, lesson in enumerate(matrix.course.lessons, 1):
        title = lesson.title.text("fr")
        columns += [(f"{n}. {title}", "int"), (f"{n}. %", "percent")]

    def rows() -> Iterator[tuple]:
        for row in [*matrix.rows, *([matrix.total] if matrix.total else [])]:
            label = row.label if row is not matrix.total else str(_l("Toute ma zone"))
            out: list = [label, row.listeners]
            for lesson in matrix.course.lessons:
                out += [row.count(lesson.id), row.share(lesson.id)]
            yield tuple(out)

    return columns, rows()


# --- quiz answers -----------------------------------------------------------------------------------------

ANSWER_COLUMNS: list[Column] = [
    (_l("Date"), "date"),
    (_l("Numéro de l'auditeur"), "int"),
    (_l("Téléphone"), "phone"),
    (_l("Nom"), "text"),
    (_l("Village"), "text"),
    (_l("Cours"), "text"),
    (_l("Leçon"), "text"),
    (_l("Question"), "text"),
    (_l("Réponse donnée"), "text"),
    (_l("Choix"), "text"),
    (_l("Juste"), "bool"),
    (_l("Comptée"), "bool"),
    (_l("Essai"), "int"),
    (_l("Canal"), "text"),
]


def answer_rows(where: Sequence[ColumnElement[bool]]) -> Iterator[tuple]:
    query = (
        select(
            QuizAnswer.id,
            QuizAnswer.answered_at,
            Listener.id,
            Listener.phone,
            Listener.name,
            Listener.village,
            QuizAnswer.course_id,
            QuizAnswer.lesson_id,
            QuizAnswer.question_id,
            QuizAnswer.answer,
            QuizAnswer.option_key,
            QuizAnswer.correct,
            QuizAnswer.counted,
            QuizAnswer.attempt,
            QuizAnswer.channel,
        )
        .join(Listener, Listener.id == QuizAnswer.listener_id)
        .where(*where)
    )
    for batch in _batches(query, QuizAnswer.id):
        for r in batch:
            yield (*r[1:14], str(r[14]))


class AnswersForm(FlaskForm):
    """Which answers: a course or one of its lessons, and dates (local days, both included)."""

    class Meta:
        csrf = False  # a GET form that only reads

    lesson = SelectField(_l("Cours ou leçon"), validators=[Optional()], validate_choice=True)
    start = DateField(_l("Du"), validators=[Optional()])
    end = DateField(_l("Au"), validators=[Optional()])
    fmt = RadioField(
        _l("Format"),
        choices=[SelectChoice("xlsx", "Excel (XLSX)"), SelectChoice("csv", "CSV")],
        validators=[Optional()],
    )

    def __init__(self, formdata, catalog: Catalog, **kwargs):
        super().__init__(formdata, **kwargs)
        choices = [SelectChoice("", str(_l("Tous les cours")))]
        for course in catalog:
            choices.append(SelectChoice(course.id, course.title.text("fr")))
            choices += [SelectChoice(f"{course.id}/{x.id}", f"— {x.title.text('fr')}") for x in course.lessons]
        self.lesson.choices = choices

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("La date de fin est avant la date de début."))

    def link_args(self) -> dict[str, str]:
        out = {"lesson": self.lesson.data or "", "start": _iso(self.start.data), "end": _iso(self.end.data)}
        return {k: v for k, v in out.items() if v}

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        course_id, _, lesson_id = (self.lesson.data or "").partition("/")
        if course_id:
            out.append(QuizAnswer.course_id == course_id)
        if lesson_id:
            out.append(QuizAnswer.lesson_id == lesson_id)
        if self.start.data:
            out.append(QuizAnswer.answered_at >= _local_midnight(self.start.data))
        if self.end.data:
            out.append(QuizAnswer.answered_at < _local_midnight(self.end.data + timedelta(days=1)))
        return [and_(*out)] if out else []


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=current_app.config["KALANSO"].tz).astimezone(UTC)


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


# --- writing ----------------------------------------------------------------------------------------------


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        abort(404)
    return fmt


def _record(fmt: str, target: str, **detail) -> None:
    """The export in the audit log, committed before the first byte is sent."""
    audit.record("export", now(), user=me(), target=target, fmt=fmt, ip=request.remote_addr or "", **detail)
    db.session.commit()


def _send(fmt: str, name: str, columns: list[Column], rows: Iterable[tuple]) -> Response:
    headers = [str(h) for h, _kind in columns]
    kinds = [kind for _h, kind in columns]
    body = csv_chunks(headers, kinds, rows) if fmt == "csv" else xlsx_chunks(headers, kinds, rows)
    filename = f"kalanso-{name}-{now().date().isoformat()}.{fmt}"
    return Response(
        stream_with_context(body),
        content_type=MIMETYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def guard(text: str) -> str:
    """A text cell Excel will not run as a formula."""
    return "'" + text if text.startswith(DANGEROUS) else text


def csv_value(value, kind: str):
    if value is None:
        return ""
    if kind == "phone":
        return value
    if kind == "bool":
        return "1" if value else "0"
    if kind == "date":
        return value.isoformat()
    if kind == "percent":
        return round(value * 100)
    if kind == "int":
        return value
    return guard(str(value))


def csv_chunks(headers: list[str], kinds: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_SEPARATOR, lineterminator="\r\n")
    writer.writerow([guard(h) for h in headers])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow([csv_value(v, k) for v, k in zip(row, kinds, strict=True)])
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_chunks(headers: list[str], kinds: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as file:
        _write_xlsx(file, headers, kinds, rows)
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk


def _write_xlsx(file, headers: list[str], kinds: list[str], rows: Iterable[tuple]) -> None:
    book = xlsxwriter.Workbook(file, {"constant_memory": True, "tmpdir": tempfile.gettempdir()})
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0%"})
    writers: dict[str, Callable] = {}
    sheet, line, sheets = None, XLSX_MAX_ROWS, 0
    for row in rows:
        if line >= XLSX_MAX_ROWS:
            sheets += 1
            sheet = book.add_worksheet(f"Kalanso {sheets}")
            sheet.freeze_panes(1, 0)
            for c, header in enumerate(headers):
                sheet.write_string(0, c, header, bold)
            writers = _cell_writers(sheet, percent)
            line = 1
        for c, (value, kind) in enumerate(zip(row, kinds, strict=True)):
            if value is not None and value != "":
                writers[kind](line, c, value)
        line += 1
    if sheet is None:  # no row: the headers alone
        sheet = book.add_worksheet("Kalanso 1")
        for c, header in enumerate(headers):
            sheet.write_string(0, c, header, bold)
    book.close()


def _cell_writers(sheet, percent) -> dict[str, Callable]:
    return {
        "text": lambda r, c, v: sheet.write_string(r, c, str(v)),
        "phone": lambda r, c, v: sheet.write_string(r, c, str(v)),
        "int": lambda r, c, v: sheet.write_number(r, c, v),
        "bool": lambda r, c, v: sheet.write_number(r, c, 1 if v else 0),
        "date": lambda r, c, v: sheet.write_string(r, c, v.isoformat()),
        "percent": lambda r, c, v: sheet.write_number(r, c, v, percent),
    }
