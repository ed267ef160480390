"""The audit log: sign-ins, exports, changes to listeners, groups, users and tokens.

``record`` adds an ``AuditEvent`` to the caller's transaction (so a change and its record commit together);
``detail`` must not hold a phone number in clear (use ``core.phones.mask_phone``) or a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.models import AuditEvent, User
from core.db import db


def record(
    action: str,
    now: datetime,
    *,
    user: User | None = None,
    target: str = "",
    ip: str = "",
    login: str = "",
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        at=now,
        user_id=user.id if user is not None else None,
        action=action,
        target=target[:80],
        login=login[:254],
        ip=ip[:64],
        detail=detail,
    )
    db.session.add(event)
    return event
