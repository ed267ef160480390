"""Import listeners from a CSV file in the browser (``listeners.importer``, the same rules as ``flask listeners
import``): a report with every bad row by its line number; nothing imported unless every row is good, or the
user ticks "import the good rows only". A field agent's import stays inside their scope (rows outside it are
bad rows; groups must be theirs); a manager's creates the groups it names. Audited (``listeners_imported``,
with the counts)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, scoped
from accounts.scope import group_clause, listener_clause, may_register
from core.db import db
from dashboard.access import me, now, require
from listeners.importer import COLUMNS, ImportReport, Limits, RowError, decode, import_listeners
from listeners.models import Group, Listener

bp = Blueprint("imports", __name__, url_prefix="/dashboard", template_folder="templates")
MAX_BYTES = 5 * 1024 * 1024  # about 50,000 rows


@bp.route("/import", methods=["GET", "POST"])
@require(Permission.REGISTER)
def upload():
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        data = form.file.data.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            form.file.errors.append(_("Ce fichier est trop gros (5 Mo au plus) : coupez-le en plusieurs fichiers."))
        else:
            report = run_import(me(), data, partial=form.partial.data, ip=request.remote_addr or "")
            if report is None:
                form.file.errors.append(message(RowError(1, "not_text")))
    status = 400 if form.errors or (report is not None and not report.imported) else 200
    errors = [(e.line, message(e)) for e in report.errors] if report is not None else []
    return render_template(
        "dashboard/register/import.html", form=form, report=report, errors=errors, columns=COLUMNS
    ), status


class ImportForm(FlaskForm):
    file = FileField(_l("Fichier CSV"), validators=[FileRequired(_l("Choisissez un fichier."))])
    partial = BooleanField(_l("Importer seulement les bonnes lignes (les autres sont laissées de côté)"))


# --- what importing does ------------------------------------------------------------------------------


def run_import(user: User, data: bytes, *, partial: bool, ip: str = "") -> ImportReport | None:
    """Import the file for ``user``; commit what was imported (with its audit record), else roll back.
    None when the file is not text."""
    try:
        text, encoding = decode(data)
    except ValueError:
        return None
    at = now()
    report = import_listeners(text, at, partial=partial, limits=limits_for(user), by=user.id, encoding=encoding)
    if not report.imported:
        db.session.rollback()
        return report
    audit.record(
        "listeners_imported",
        at,
        user=user,
        target="import",
        ip=ip,
        created=report.created,
        updated=report.updated,
        bad_rows=report.bad_lines,
        language_kept=report.language_kept,
        groups_created=report.groups_created,
        encoding=encoding,
    )
    db.session.commit()
    return report


def limits_for(user: User) -> Limits | None:
    """An agent's import stays in their scope; the other roles import anywhere (and create groups)."""
    if not scoped(user.role):
        return None

    def visible(listeners: Sequence[Listener]) -> set[int]:
        ids = [listener.id for listener in listeners]
        out: set[int] = set()
        for n in range(0, len(ids), 500):
            chunk = ids[n : n + 500]
            out |= set(db.session.scalars(select(Listener.id).where(Listener.id.in_(chunk), listener_clause(user))))
        return out

    def may_place(village: str, commune: str, region: str, group_ids: set[int]) -> bool:
        return may_register(user, village=village, commune=commune, region=region, group_ids=group_ids)

    groups = {g.name.lower(): g for g in db.session.scalars(select(Group).where(group_clause(user)))}
    return Limits(visible=visible, may_place=may_place, groups=groups)


def message(error: RowError) -> str:
    """A bad row's problem in the user's language."""
    v = error.values
    words = {
        "not_text": lambda: _("Ce fichier n'est pas un texte CSV : enregistrez-le au format « CSV UTF-8 »."),
        "empty": lambda: _("Le fichier est vide."),
        "header_no_phone": lambda: _(
            "La première ligne doit nommer une colonne « phone » (colonnes : %(columns)s).", columns=v["columns"]
        ),
        "header_unknown": lambda: _(
            "Colonne(s) inconnue(s) : %(unknown)s (colonnes : %(columns)s).", unknown=v["unknown"], columns=v["columns"]
        ),
        "too_many_values": lambda: _("Plus de valeurs que de colonnes."),
        "phone_missing": lambda: _("Pas de numéro de téléphone."),
        "phone_invalid": lambda: _(
            "Numéro invalide : %(value)s (un numéro du Mali a 8 chiffres, par exemple 76 12 34 56).", value=v["value"]
        ),
        "language": lambda: _("Langue inconnue : %(value)s (bm ou fr, ou vide).", value=v["value"]),
        "duplicate": lambda: _("Même numéro qu'à la ligne %(first)s.", first=v["first"]),
        "out_of_scope": lambda: _("Ce village, cette commune, cette région ou ce groupe n'est pas dans votre zone."),
        "phone_taken": lambda: _("Ce numéro est déjà inscrit, hors de votre zone."),
        "unknown_group": lambda: _("Groupe inconnu, ou pas un de vos groupes : %(group)s.", group=v["group"]),
    }
    return words[error.code]()
