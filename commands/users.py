"""``flask users create|list|disable|bootstrap``: dashboard accounts from a terminal."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from accounts import service
from accounts.models import User
from accounts.roles import Role, ScopeKind
from core.clock import utcnow
from core.db import db
from core.phones import mask_phone


@click.group("users", help="Dashboard accounts: create, list, disable.")
def users_cli() -> None:
    pass


def _scopes(region, commune, village, group) -> list[tuple[ScopeKind, str | int]]:
    from listeners.models import Group

    out: list[tuple[ScopeKind, str | int]] = [(ScopeKind.REGION, v) for v in region]
    out += [(ScopeKind.COMMUNE, v) for v in commune] + [(ScopeKind.VILLAGE, v) for v in village]
    for name in group:
        found = db.session.scalars(select(Group).where(Group.name == name)).first()
        if found is None:
            raise click.UsageError(f"no group named {name!r} (create it first)")
        out.append((ScopeKind.GROUP, found.id))
    return out


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="")
@click.option("--phone", default=None, help="The agent's own phone, for SUIVI by SMS.")
@click.option("--region", multiple=True, help="An agent's region (repeatable).")
@click.option("--commune", multiple=True, help="An agent's commune (repeatable).")
@click.option("--village", multiple=True, help="An agent's village (repeatable).")
@click.option("--group", multiple=True, help="An agent's group, by name (repeatable).")
@with_appcontext
def create(email, role, name, phone, region, commune, village, group):
    """Create an account; its one-time password is printed once (the user changes it at first sign-in)."""
    scopes = _scopes(region, commune, village, group)
    if role == Role.AGENT and not scopes:
        click.echo("note: an agent with no region, commune, village or group sees nobody", err=True)
    try:
        user, password = service.create_user(email, Role(role), utcnow(), name=name, phone=phone, scopes=scopes)
    except service.UserError as exc:
        raise click.UsageError(f"{exc.field}: {exc}") from exc
    db.session.commit()
    click.echo(f"created {user.email} ({user.role.value})")
    click.echo(f"one-time password: {password}")


@users_cli.command("list")
@with_appcontext
def list_users():
    """Every account: email, role, active, phone (masked), scope."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        places = ", ".join(f"{s.kind.value}:{s.value or s.group_id}" for s in user.scopes)
        state = "active" if user.active else "disabled"
        phone = mask_phone(user.phone) if user.phone else "-"
        click.echo(f"{user.id}\t{user.email}\t{user.role.value}\t{state}\t{phone}\t{places}")


@users_cli.command("disable")
@click.argument("email")
@with_appcontext
def disable(email):
    """Disable an account: it can no longer sign in, and its API tokens stop working."""
    user = service.find_by_email(email)
    if user is None:
        raise click.UsageError(f"no account {email!r}")
    service.disable(user, utcnow())
    db.session.commit()
    click.echo(f"disabled {user.email}")


@users_cli.command("bootstrap")
@with_appcontext
def bootstrap():
    """With no account at all, create a local admin and print its one-time password (``make run`` does this)."""
    password = service.ensure_first_admin(utcnow())
    db.session.commit()
    if password is None:
        click.echo("accounts exist already: nothing to do")
    else:
        click.echo("created the first account: admin@localhost (admin)")
        click.echo(f"one-time password (shown once, change it at first sign-in): {password}")
