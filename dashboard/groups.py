"""Groups: the list with member counts (in the user's scope), creating and renaming a group, its members
(scoped, in keyset pages), adding a listener by phone and removing one.

Agents see only their own groups (``group_clause``) and, in them, only the listeners of their scope; creating,
renaming and changing members needs ``MANAGE_GROUPS`` (managers and admins). Every change is audited.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import and_, func, select
from wtforms import StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length

from accounts import audit
from accounts.models import User
from accounts.roles import Permission, allowed, scoped
from accounts.scope import group_clause, listener_clause
from core.db import db
from core.phones import InvalidPhone, normalize_phone
from dashboard.access import listener_or_404, me, now, require
from dashboard.listing import ListenerFilter, listeners_page, parse_cursor
from listeners.models import Group, Listener, listener_groups

bp = Blueprint("groups", __name__, url_prefix="/dashboard/groups", template_folder="templates")


class GroupForm(FlaskForm):
    name = StringField(_l("Nom du groupe"), validators=[DataRequired(_l("Le nom est obligatoire.")), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Length(max=1000)])


class MemberForm(FlaskForm):
    phone = TelField(_l("Numéro de téléphone"), validators=[DataRequired(_l("Le numéro est obligatoire."))])


@bp.get("/")
@require(Permission.VIEW)
def index():
    may_manage = allowed(me().role, Permission.MANAGE_GROUPS)
    return render_template("dashboard/groups/index.html", groups=groups_with_counts(me()), may_manage=may_manage)


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.MANAGE_GROUPS)
def create():
    form = GroupForm()
    if form.validate_on_submit() and (group := save_group(None, form, me(), now())) is not None:
        db.session.commit()
        return redirect(url_for("groups.show", group_id=group.id))
    return render_template("dashboard/groups/form.html", form=form, group=None), 400 if form.errors else 200


@bp.route("/<int:group_id>/rename", methods=["GET", "POST"])
@require(Permission.MANAGE_GROUPS)
def rename(group_id: int):
    group = group_or_404(group_id)
    form = GroupForm(obj=group if request.method == "GET" else None)
    if form.validate_on_submit() and save_group(group, form, me(), now()) is not None:
        db.session.commit()
        return redirect(url_for("groups.show", group_id=group.id))
    return render_template("dashboard/groups/form.html", form=form, group=group), 400 if form.errors else 200


@bp.get("/<int:group_id>")
@require(Permission.VIEW)
def show(group_id: int):
    group = group_or_404(group_id)
    return _members_page(group, MemberForm(formdata=None))


@bp.post("/<int:group_id>/members")
@require(Permission.MANAGE_GROUPS)
def add_member(group_id: int):
    group = group_or_404(group_id)
    form = MemberForm()
    if form.validate_on_submit() and add_by_phone(group, form, me(), now()):
        db.session.commit()
        return redirect(url_for("groups.show", group_id=group.id))
    return _members_page(group, form, status=400)


@bp.post("/<int:group_id>/members/<int:listener_id>/remove")
@require(Permission.MANAGE_GROUPS)
def remove_member(group_id: int, listener_id: int):
    group = group_or_404(group_id)
    listener = listener_or_404(listener_id)
    if FlaskForm().validate_on_submit() and group in listener.groups:
        listener.groups.remove(group)
        audit.record("group_member_removed", now(), user=me(), target=f"listener:{listener.id}", group=group.id)
        db.session.commit()
        flash(_("%(name)s n'est plus dans le groupe.", name=listener.name or _("L'auditeur")))
    return redirect(url_for("groups.show", group_id=group.id))


def _members_page(group: Group, form: MemberForm, status: int = 200):
    flt = ListenerFilter(group_id=group.id)
    after = parse_cursor(request.args.get("after"))
    page = listeners_page(me(), flt, after=after)
    may_manage = allowed(me().role, Permission.MANAGE_GROUPS)
    return (
        render_template(
            "dashboard/groups/show.html", group=group, page=page, after=after, form=form, may_manage=may_manage
        ),
        status,
    )


# --- operations ---------------------------------------------------------------------------------------------


def group_or_404(group_id: int) -> Group:
    """The group if the signed-in user may see it (an agent: one of their own), else 404."""
    group = db.session.scalars(select(Group).where(Group.id == group_id, group_clause(me()))).first()
    if group is None:
        abort(404)
    return group


def groups_with_counts(user: User) -> list[tuple[Group, int]]:
    """The groups ``user`` may see, each with its members inside ``user``'s scope."""
    # an alias: the scope rule's own EXISTS on listener_groups must not correlate to this join (an agent with a
    # group scope would get a subquery without FROM)
    member = listener_groups.alias("member")
    counts = select(member.c.group_id, func.count().label("members")).group_by(member.c.group_id)
    if scoped(user.role):  # everyone's groups need no join with the listeners
        counts = counts.join(Listener, Listener.id == member.c.listener_id).where(listener_clause(user))
    counts = counts.subquery()
    rows = db.session.execute(
        select(Group, func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .where(group_clause(user))
        .order_by(Group.name, Group.id)
    ).all()
    return [(group, members) for group, members in rows]


def save_group(group: Group | None, form: GroupForm, user: User, moment: datetime) -> Group | None:
    """Create (``group`` None) or rename a group; a name already taken (whatever the case) is refused next to
    its field. Audited."""
    name = " ".join(form.name.data.split())
    same = select(Group.id).where(func.lower(Group.name) == name.lower())
    if group is not None:
        same = same.where(Group.id != group.id)
    if not name or db.session.scalar(same) is not None:
        form.name.errors.append(_("Un groupe porte déjà ce nom.") if name else _("Le nom est obligatoire."))
        return None
    description = (form.description.data or "").strip()
    if group is None:
        group = Group(name=name, description=description, created_at=moment)
        db.session.add(group)
        db.session.flush()
        audit.record("group_created", moment, user=user, target=f"group:{group.id}", name=name)
        return group
    if group.name != name:
        audit.record("group_renamed", moment, user=user, target=f"group:{group.id}", old=group.name, new=name)
    group.name, group.description = name, description
    return group


def add_by_phone(group: Group, form: MemberForm, user: User, moment: datetime) -> bool:
    """Add the listener with this phone number to the group. A number outside the user's scope reads as unknown."""
    try:
        phone = normalize_phone(form.phone.data)
    except InvalidPhone:
        form.phone.errors.append(_("Ce n'est pas un numéro du Mali (8 chiffres, par exemple 76 12 34 56)."))
        return False
    listener = db.session.scalars(select(Listener).where(and_(Listener.phone == phone, listener_clause(user)))).first()
    if listener is None:
        form.phone.errors.append(_("Aucun auditeur n'a ce numéro. Inscrivez-le d'abord."))
        return False
    if group in listener.groups:
        form.phone.errors.append(_("Cette personne est déjà dans le groupe."))
        return False
    listener.groups.append(group)
    audit.record("group_member_added", moment, user=user, target=f"listener:{listener.id}", group=group.id)
    return True
