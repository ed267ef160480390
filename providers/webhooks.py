"""What every provider webhook refuses before anything else reads the request.

Twilio and Africa's Talking post small ``application/x-www-form-urlencoded`` bodies (provider reference
§0, §15). A request that is not one — another content type (multipart, JSON, ...), a body over
``MAX_BODY_BYTES`` (413), a body that is not UTF-8, more than ``MAX_FIELDS`` fields (body and query string
together), a field name or value with a C0 control character other than tab, CR and LF (NUL above all) —
comes from no provider and is refused with 400 before its signature or secret is checked and before any
parser sees it: nothing downstream can crash on it (the Twilio SDK's validator raised on the ``None`` name
of an unnamed multipart part, an unauthenticated 500). An empty body passes (nothing to read).

``@provider_webhook`` goes under the route decorator of every provider webhook; the simulator's JSON routes
are not provider webhooks and do not use it. A webhook that takes more than a form says so with
``@provider_webhook(accepts=...)``: a function of no arguments giving its ``Accepts`` for this request (your
own SMS gateway's depends on its preset: the Android app posts JSON, Kannel may post a text in UTF-16).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from flask import Request, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 64 * 1024  # a Twilio or AT webhook body is well under 2 KiB (an SMS Body: at most 1600 chars)
MAX_FIELDS = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MARK = "provider_webhook"  # set on guarded views (tests check that every provider route has it)

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class Accepts:
    """What a webhook takes: its content types, the fields whose value is an encoded text that its parser decodes
    itself (a UCS-2 SMS as raw UTF-16 bytes: its NULs are text, not junk), and whether a ``text/plain`` body
    may be in another charset than UTF-8 (its parser decodes it by the declared charset)."""

    types: tuple[str, ...] = (FORM,)
    raw_fields: frozenset[str] = frozenset()
    text_in_any_charset: bool = False


FORM_ONLY = Accepts()


def refusal(req: Request, accepts: Accepts = FORM_ONLY) -> tuple[int, str] | None:
    """Why ``req`` cannot be a provider's webhook, as (HTTP status, reason); None when it may be one."""
    req.max_content_length = MAX_BODY_BYTES  # before anything opens the body stream
    try:
        body = req.get_data(cache=True)
    except RequestEntityTooLarge:
        return 413, f"body over {MAX_BODY_BYTES} bytes"
    if body and req.mimetype not in accepts.types:
        return 400, f"content type {req.mimetype[:60]!r} (this webhook takes {', '.join(accepts.types)})"
    if not (accepts.text_in_any_charset and req.mimetype == "text/plain"):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "body is not UTF-8"
    fields = list(req.args.items(multi=True))
    if body and req.mimetype == FORM:
        fields += req.form.items(multi=True)
    if len(fields) > MAX_FIELDS:
        return 400, f"{len(fields)} fields (at most {MAX_FIELDS})"
    for name, value in fields:
        if _CONTROL.search(name) or (name not in accepts.raw_fields and _CONTROL.search(value)):
            return 400, f"a control character in field {name[:40]!r}"
    return None


def provider_webhook(view: F | None = None, *, accepts: Callable[[], Accepts] | None = None):
    """Refuse (400/413, logged without the body) whatever no provider sends, then run ``view``. Used bare
    (forms only) or as ``@provider_webhook(accepts=...)``."""
    if view is None:
        return lambda inner: provider_webhook(inner, accepts=accepts)

    @wraps(view)
    def guarded(*args, **kwargs):
        problem = refusal(request, accepts() if accepts is not None else FORM_ONLY)
        if problem is not None:
            status, reason = problem
            log.warning("webhook %s refused (%d): %s", request.endpoint, status, reason)
            abort(status)
        return view(*args, **kwargs)

    setattr(guarded, MARK, True)
    return guarded
