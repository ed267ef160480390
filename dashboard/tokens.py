"""API tokens: a user lists their tokens, creates one (shown once, never again) and revokes one. A token
acts with its user's role and scope; only its hash is stored (``accounts.tokens``)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from accounts import tokens
from accounts.roles import Permission
from core.db import db
from dashboard.access import NAV, me, now, require

bp = Blueprint("tokens", __name__, url_prefix="/dashboard/tokens", template_folder="templates")
NAV.append(("tokens.index", _l("Jetons d'API"), Permission.API_TOKENS))


class TokenForm(FlaskForm):
    name = StringField(_l("Nom du jeton"), validators=[DataRequired(), Length(max=120)])


class RevokeForm(FlaskForm):
    pass


@bp.route("/", methods=["GET", "POST"])
@require(Permission.API_TOKENS)
def index():
    form, shown, status = TokenForm(), None, 200
    if form.validate_on_submit():
        _row, shown = tokens.create(me(), form.name.data, now())
        db.session.commit()
        form = TokenForm(formdata=None)
        status = 201
    elif form.is_submitted():
        status = 422
    return render_template(
        "dashboard/tokens/index.html", form=form, revoke=RevokeForm(), rows=tokens.of_user(me()), shown=shown
    ), status


@bp.post("/<int:token_id>/revoke")
@require(Permission.API_TOKENS)
def revoke(token_id: int):
    row = tokens.find_own(me(), token_id)
    if row is None or not RevokeForm().validate_on_submit():
        abort(404 if row is None else 400)
    tokens.revoke(row, me(), now())
    db.session.commit()
    return redirect(url_for("tokens.index"))
