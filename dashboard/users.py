"""Users (admins only): list them, create one (its one-time password shown once), change role, name, SUIVI
phone and an agent's scopes (places and groups), disable or enable. The rules are in ``accounts.service``."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, Optional

from accounts import service
from accounts.models import User
from accounts.roles import Permission, Role, ScopeKind
from core.db import db
from dashboard import role_label
from dashboard.access import NAV, me, now, require
from listeners.models import Group

bp = Blueprint("users", __name__, url_prefix="/dashboard/users", template_folder="templates")
NAV.append(("users.index", _l("Utilisateurs"), Permission.MANAGE_USERS))
PLACES = ((ScopeKind.REGION, "regions"), (ScopeKind.COMMUNE, "communes"), (ScopeKind.VILLAGE, "villages"))
PLACES_HINT = _l("Un nom par ligne (ou séparés par des virgules).")


class UserForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[Length(max=200)])
    role = SelectField(_l("Rôle"))
    phone = StringField(_l("Téléphone pour SUIVI par SMS"), validators=[Optional(), Length(max=30)])
    regions = TextAreaField(_l("Régions"), validators=[Length(max=2000)])
    communes = TextAreaField(_l("Communes"), validators=[Length(max=2000)])
    villages = TextAreaField(_l("Villages"), validators=[Length(max=2000)])
    groups = SelectMultipleField(
        _l("Groupes"), coerce=int, widget=widgets.ListWidget(prefix_label=False), option_widget=widgets.CheckboxInput()
    )

    def prepare(self) -> UserForm:
        self.role.choices = [(r.value, role_label(r)) for r in Role]
        self.groups.choices = [
            (gid, name) for gid, name in db.session.execute(select(Group.id, Group.name).order_by(Group.name))
        ]
        return self

    def scopes(self) -> list[tuple[ScopeKind, str | int]]:
        out: list[tuple[ScopeKind, str | int]] = []
        for kind, name in PLACES:
            text = getattr(self, name).data or ""
            out += [(kind, part) for line in text.splitlines() for part in line.split(",") if part.strip()]
        return out + [(ScopeKind.GROUP, group_id) for group_id in self.groups.data or []]


class NewUserForm(UserForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])


class ActionForm(FlaskForm):
    pass


@bp.get("/")
@require(Permission.MANAGE_USERS)
def index():
    users = db.session.scalars(select(User).order_by(User.active.desc(), User.email)).all()
    return render_template("dashboard/users/index.html", users=users)


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.MANAGE_USERS)
def create():
    form = NewUserForm().prepare()
    if form.validate_on_submit():
        try:
            user, password = service.create_user(
                form.email.data, Role(form.role.data), now(), name=form.name.data, phone=form.phone.data,
                scopes=form.scopes() if form.role.data == Role.AGENT else [], by=me(),
            )  # fmt: skip
        except service.UserError as exc:
            db.session.rollback()
            _field_error(form, exc)
        else:
            db.session.commit()
            return render_template("dashboard/users/created.html", user=user, password=password), 201
    return render_template(
        "dashboard/users/form.html", form=form, user=None, places_hint=PLACES_HINT
    ), 422 if form.is_submitted() else 200


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@require(Permission.MANAGE_USERS)
def edit(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = UserForm(obj=None if _posted() else _as_form(user)).prepare()
    if form.validate_on_submit():
        try:
            service.update_user(
                user, now(), role=Role(form.role.data), name=form.name.data, phone=form.phone.data,
                scopes=form.scopes(), by=me(),
            )  # fmt: skip
        except service.UserError as exc:
            db.session.rollback()
            user = db.session.get(User, user_id)
            _field_error(form, exc)
        else:
            db.session.commit()
            return redirect(url_for("users.index"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "dashboard/users/form.html", form=form, user=user, action=ActionForm(), places_hint=PLACES_HINT
    ), status


@bp.post("/<int:user_id>/active")
@require(Permission.MANAGE_USERS)
def set_active(user_id: int):
    """Disable (``active=0``) or enable again (``active=1``)."""
    user = db.session.get(User, user_id) or abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if request.form.get("active") == "1":
            service.enable(user, now(), by=me())
        else:
            service.disable_by(user, now(), by=me())
    except service.UserError:
        abort(403)
    db.session.commit()
    return redirect(url_for("users.index"))


def _posted() -> bool:
    return request.method == "POST"


class _Values:
    def __init__(self, **values):
        self.__dict__.update(values)


def _as_form(user: User) -> _Values:
    def names(kind: ScopeKind) -> str:
        return "\n".join(s.value for s in user.scopes if s.kind is kind)

    return _Values(
        name=user.name,
        role=user.role.value,
        phone=user.phone or "",
        regions=names(ScopeKind.REGION),
        communes=names(ScopeKind.COMMUNE),
        villages=names(ScopeKind.VILLAGE),
        groups=[s.group_id for s in user.scopes if s.kind is ScopeKind.GROUP],
    )


FIELD_OF = {"email": "email", "phone": "phone", "password": "email", "role": "role"}


def _field_error(form: UserForm, exc: service.UserError) -> None:
    """The service's reason, next to the field it is about (or at the top of the form)."""
    message = _(str(exc))
    target = getattr(form, FIELD_OF.get(exc.field, ""), None)
    if target is not None:
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)
