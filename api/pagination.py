"""Cursor pagination: rows in id order, ``limit`` at a time (at most 500); the cursor is opaque to partners
(base64 of ``{"after": <last id>}``) and the answer's ``next`` link carries it. Stable under inserts: a new
row gets a larger id and shows on a later page, never twice."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import url_for
from sqlalchemy import Select

from api.errors import invalid
from core.db import db

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id seen; a cursor that is not one of ours is a 422 naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid("cursor", "This cursor is not valid: use the 'next' link of the previous page.") from None
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise invalid("cursor", "This cursor is not valid: use the 'next' link of the previous page.")
    return after


def parse_limit(args: Mapping[str, str]) -> int:
    raw = args.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def page(
    query: Select,
    id_column,
    serialize: Callable[[Any], dict],
    args: Mapping[str, str],
    endpoint: str,
    *,
    scalars: bool = True,
    **url_values,
) -> dict:
    """One page of ``query`` (ordered here by ``id_column``) as ``{"data": [...], "next": url or null}``."""
    limit = parse_limit(args)
    cursor = args.get("cursor", "")
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    query = query.order_by(None).order_by(id_column).limit(limit + 1)
    rows = list(db.session.scalars(query) if scalars else db.session.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = None
    if more:
        last = rows[-1] if scalars else rows[-1][0]
        keep = {k: v for k, v in args.items() if k != "cursor"}
        next_url = url_for(endpoint, **url_values, **keep, cursor=encode_cursor(last.id))
    return {"data": [serialize(row) for row in rows], "next": next_url}
