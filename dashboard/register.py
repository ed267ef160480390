"""Register a listener (field agents, on a phone): phone, name, places, language, groups, and the consent the
person gives after hearing the consent sentence read out in their language.

A number already registered is refused: "already registered: <name, village>" with a link to the record when
the user may see it; a neutral sentence when not (another agent's listener is never described). An agent
registers only inside their scope (``accounts.scope.may_register``) and only into their own groups. The new
listener's consent is recorded as given to an agent (``give_consent(..., "agent", by=user.id)``), their
language as set by that user, and the registration is audited (``listener_registered``, the phone masked).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import BuildError
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField, TelField, ValidationError, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length

from accounts import audit
from accounts.models import User
from accounts.roles import Permission
from accounts.scope import group_clause, may_register, visible_listener
from core.db import db
from core.phones import InvalidPhone, mask_phone, normalize_phone
from dashboard.access import listener_or_404, me, now, require
from ivr.menu import OPT_OUT_KEY
from listeners.models import Group, Listener
from listeners.service import give_consent

bp = Blueprint("register", __name__, url_prefix="/dashboard", template_folder="templates")
LANGUAGES = ("bm", "fr")
RECORD_ENDPOINT = "listeners.show"  # the listener's page (dashboard.listeners), linked when it exists


@bp.route("/register", methods=["GET", "POST"])
@require(Permission.REGISTER)
def new():
    user = me()
    form = RegisterForm(groups=visible_groups(user), user=user)
    if form.validate_on_submit():
        outcome = register(user, form, ip=request.remote_addr or "")
        if outcome.listener is not None:
            db.session.commit()
            return redirect(url_for("register.done", listener_id=outcome.listener.id))
        form.duplicate = outcome.duplicate
        form.phone.errors = [*form.phone.errors, outcome.error]
    status = 400 if form.errors or form.duplicate else 200
    page = render_template("dashboard/register/new.html", form=form, duplicate=form.duplicate, consent=_consent(form))
    return page, status


@bp.get("/register/consent")
@require(Permission.REGISTER)
def consent():
    """The consent sentence in the language just chosen (htmx swaps it in; without JavaScript the page shows the
    language chosen when it was loaded)."""
    lang = request.args.get("language", "")
    return render_template("dashboard/register/_consent.html", consent=consent_sentence(lang), lang=lang)


@bp.get("/register/done/<int:listener_id>")
@require(Permission.REGISTER)
def done(listener_id: int):
    listener = listener_or_404(listener_id)
    return render_template("dashboard/register/done.html", listener=listener, record=record_url(listener.id))


# --- the form -------------------------------------------------------------------------------------


def _phone(form, field) -> None:
    try:
        field.data = normalize_phone(field.data)
    except InvalidPhone:
        raise ValidationError(
            _("Ce numéro n'est pas valide : un numéro du Mali a 8 chiffres, par exemple 76 12 34 56.")
        ) from None


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class RegisterForm(FlaskForm):
    phone = TelField(
        _l("Numéro de téléphone"),
        validators=[DataRequired(_l("Le numéro est obligatoire.")), Length(max=30), _phone],
    )
    name = StringField(_l("Nom et prénom"), validators=[DataRequired(_l("Le nom est obligatoire.")), Length(max=200)])
    village = StringField(_l("Village"), validators=[DataRequired(_l("Le village est obligatoire.")), Length(max=120)])
    commune = StringField(_l("Commune"), validators=[Length(max=120)])
    region = StringField(_l("Région"), validators=[Length(max=120)])
    language = RadioField(
        _l("Langue de la personne"),
        choices=[SelectChoice("bm", _l("Bambara")), SelectChoice("fr", _l("Français"))],
        default="bm",
        validate_choice=False,
        validators=[AnyOf(LANGUAGES, _l("Choisissez la langue."))],
    )
    groups = CheckboxesField(_l("Groupes"), coerce=int, validate_choice=False)
    consent = BooleanField(
        _l("La personne a entendu cette phrase et elle est d'accord."),
        validators=[DataRequired(_l("Lisez la phrase à la personne, puis cochez si elle est d'accord."))],
    )

    def __init__(self, *args, groups: list[Group], user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups.choices = [SelectChoice(g.id, g.name) for g in groups]
        self.user = user
        self.duplicate: Duplicate | None = None
        if not self.is_submitted():
            villages = [s.value for s in user.scopes if s.kind.value == "village"]
            if len(villages) == 1:  # an agent covering one village: that village, already typed
                self.village.data = villages[0]

    def validate_phone(self, field) -> None:
        """Said at once, whatever else the form lacks: the agent need not fill in the rest for nothing."""
        found = db.session.scalars(select(Listener).where(Listener.phone == field.data)).first()
        if found is not None:
            outcome = _duplicate(self.user, found)
            self.duplicate = outcome.duplicate
            raise ValidationError(outcome.error)

    def validate_groups(self, field) -> None:
        allowed = {choice.value for choice in field.choices}
        if any(value not in allowed for value in field.data or []):
            raise ValidationError(_("Choisissez parmi vos groupes."))

    def validate_village(self, field) -> None:
        if not may_register(
            self.user,
            village=field.data or "",
            commune=self.commune.data or "",
            region=self.region.data or "",
            group_ids=set(self.groups.data or []),
        ):
            raise ValidationError(_("Ce village n'est pas dans votre zone (ni les groupes choisis)."))


def _consent(form: RegisterForm) -> str:
    lang = form.language.data if form.language.data in LANGUAGES else "bm"
    return consent_sentence(lang)


# --- what registering does ------------------------------------------------------------------------


CONSENT = {
    "fr": (
        "Kalanso est un service gratuit de leçons par téléphone sur le travail des enfants et sur l'argent. "
        "Vous recevrez des appels et des SMS gratuits. Pour arrêter à tout moment, envoyez STOP par SMS, "
        "ou tapez {key} pendant un appel. Êtes-vous d'accord ?"
    ),
    # Bambara to be reviewed with native readers before launch (the phrases of sms/texts.yaml and the voice
    # prompts: "cikan ni wele" messages and calls, "fu" free, "... ci" send ..., "i ka 9 digi" press 9).
    "bm": (
        "Kalanso ye kalan ye telefɔni fɛ, denmisɛnw ka baara ni wari kan. Wele ni cikanw bɛna na i ma fu. "
        "Ni i b'a fɛ ka a dabila waati o waati, {stop} ci SMS fɛ, walima i ka {key} digi wele kɔnɔ. I sɔnna wa?"
    ),
}


def consent_sentence(lang: str) -> str:
    """The sentence to read out before registering someone, in their language (French if unknown)."""
    settings = current_app.config["KALANSO"]
    template = CONSENT.get(lang, CONSENT["fr"])
    return template.format(key=OPT_OUT_KEY, stop=settings.sms_opt_out_word_bm.upper())


def visible_groups(user: User) -> list[Group]:
    """The groups ``user`` may put a listener in: all of them, or an agent's own."""
    return list(db.session.scalars(select(Group).where(group_clause(user)).order_by(Group.name)))


def record_url(listener_id: int) -> str | None:
    """The listener's page, when the dashboard has one."""
    if RECORD_ENDPOINT not in current_app.view_functions:
        return None
    try:
        return url_for(RECORD_ENDPOINT, listener_id=listener_id)
    except BuildError:
        return None


@dataclass(frozen=True)
class Duplicate:
    """A number already registered: described only to a user who may see that listener."""

    name: str = ""
    village: str = ""
    url: str | None = None
    visible: bool = False


@dataclass(frozen=True)
class Outcome:
    listener: Listener | None = None
    error: str = ""
    duplicate: Duplicate | None = None


def register(user: User, form: RegisterForm, *, ip: str = "") -> Outcome:
    """Create the listener the (valid) form describes, with their consent and language; flush, do not commit."""
    at = now()
    phone = form.phone.data
    found = db.session.scalars(select(Listener).where(Listener.phone == phone)).first()
    if found is not None:
        return _duplicate(user, found)
    groups = [g for g in visible_groups(user) if g.id in set(form.groups.data or [])]
    listener = Listener(
        phone=phone,
        name=form.name.data.strip(),
        village=" ".join(form.village.data.split()),
        commune=" ".join((form.commune.data or "").split()),
        region=" ".join((form.region.data or "").split()),
        created_at=at,
    )
    listener.set_language(form.language.data, f"user:{user.id}")
    try:
        with db.session.begin_nested():
            db.session.add(listener)
            listener.groups = groups
    except IntegrityError:  # registered at the same moment by someone else
        found = db.session.scalars(select(Listener).where(Listener.phone == phone)).first()
        return _duplicate(user, found) if found is not None else Outcome(error=_("Réessayez."))
    give_consent(listener, at, "agent", by=user.id)
    audit.record(
        "listener_registered",
        at,
        user=user,
        target=f"listener:{listener.id}",
        ip=ip,
        phone=mask_phone(phone),
        village=listener.village,
        language=listener.language,
        groups=[g.id for g in groups],
    )
    db.session.flush()
    return Outcome(listener=listener)


def _duplicate(user: User, found: Listener) -> Outcome:
    if visible_listener(user, found.id) is None:
        message = _("Ce numéro est déjà inscrit, hors de votre zone. Demandez à votre responsable.")
        return Outcome(error=message, duplicate=Duplicate())
    place = found.village or "—"
    message = _("Ce numéro est déjà inscrit : %(name)s, %(village)s.", name=found.name or "—", village=place)
    return Outcome(
        error=message,
        duplicate=Duplicate(name=found.name, village=found.village, url=record_url(found.id), visible=True),
    )
