"""Sign in, sign out, change one's password, choose the pages' language."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from accounts import service
from accounts.passwords import MIN_LENGTH
from core.db import db
from dashboard import LOCALES
from dashboard.access import landing, now

bp = Blueprint("auth", __name__, url_prefix="/dashboard", template_folder="templates")


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Rester connecté sur ce téléphone"))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired()])
    new = PasswordField(_l("Nouveau mot de passe"), validators=[DataRequired(), Length(min=MIN_LENGTH, max=200)])
    again = PasswordField(
        _l("Nouveau mot de passe, encore"),
        validators=[DataRequired(), EqualTo("new", _l("Les deux ne sont pas pareils."))],
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host): never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return landing()


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = service.sign_in(form.email.data, form.password.data, now(), ip=request.remote_addr or "")
        if result.outcome is service.SignIn.OK:
            db.session.commit()
            login_user(result.user, remember=form.remember.data)
            if result.user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()  # the failed attempt stays in the audit log
        if result.outcome is service.SignIn.THROTTLED:
            form.form_errors.append(_("Trop d'essais. Attendez un quart d'heure avant de réessayer."))
            status = 429
        else:
            form.form_errors.append(_("Adresse ou mot de passe incorrect."))
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("dashboard/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        from accounts.passwords import verify

        if not verify(current_user.password_hash, form.current.data):
            form.current.errors.append(_("Ce n'est pas votre mot de passe actuel."))
        else:
            try:
                service.set_password(current_user, form.new.data, now())
            except service.UserError as exc:
                form.new.errors.append(str(exc))
            else:
                db.session.commit()
                return redirect(landing())
    return render_template("dashboard/password.html", form=form), 400 if form.errors else 200


@bp.post("/language/<lang>")
def language(lang: str):
    """Choose the pages' language (kept on the account, or in a cookie before signing in)."""
    if lang not in LOCALES:
        lang = "fr"
    if current_user.is_authenticated:
        current_user.locale = lang
        db.session.commit()
    response = make_response(redirect(_safe_next(request.form.get("next"))))
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response
