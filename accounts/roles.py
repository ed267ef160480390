"""Roles and what each may do. Pages and API endpoints name the permission they need
(``dashboard.access.require``); this table is the only place that says which role holds it."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"  # users and everything else
    MANAGER = "manager"  # listeners, groups, campaigns, content review
    AGENT = "agent"  # listeners in the places and groups assigned to them
    VIEWER = "viewer"  # reads everything, changes nothing
    EDITOR = "editor"  # the content studio: records and uploads recordings (no listener data)
    REVIEWER = "reviewer"  # the content studio: records, reviews texts, approves others' recordings (no listener data)


class ScopeKind(enum.StrEnum):
    REGION = "region"
    COMMUNE = "commune"
    VILLAGE = "village"
    GROUP = "group"


class Permission(enum.StrEnum):
    VIEW = "view"  # pages and API reads (an agent: only in scope)
    EDIT_LISTENERS = "edit_listeners"  # profile, groups, opt-out on request
    REGISTER = "register"  # register a listener, import a CSV
    MANAGE_GROUPS = "manage_groups"  # create and rename groups, members
    EXPORT = "export"  # CSV and XLSX downloads
    API_TOKENS = "api_tokens"  # create and revoke one's own API tokens
    MANAGE_USERS = "manage_users"  # users, roles, scopes
    MANAGE_CAMPAIGNS = "manage_campaigns"  # create, edit, schedule, pause, resume and cancel campaigns
    RECORD = "record"  # the content studio: see the texts and their coverage, record and upload (phone, browser)
    REVIEW = "review"  # the content studio: set a text's review state, approve or reject someone else's recording


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MANAGER: frozenset(Permission) - {Permission.MANAGE_USERS},
    Role.AGENT: frozenset(
        {Permission.VIEW, Permission.EDIT_LISTENERS, Permission.REGISTER, Permission.EXPORT, Permission.API_TOKENS}
    ),
    Role.VIEWER: frozenset({Permission.VIEW, Permission.EXPORT}),
    Role.EDITOR: frozenset({Permission.RECORD}),
    Role.REVIEWER: frozenset({Permission.RECORD, Permission.REVIEW}),
}

ROLE_LABELS = {  # French first; the dashboard translates them
    Role.ADMIN: "administrateur",
    Role.MANAGER: "responsable",
    Role.AGENT: "agent de terrain",
    Role.VIEWER: "lecteur",
    Role.EDITOR: "éditeur de contenu",
    Role.REVIEWER: "relecteur",
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def scoped(role: Role) -> bool:
    """Whether this role sees only the listeners in its scopes."""
    return role is Role.AGENT
