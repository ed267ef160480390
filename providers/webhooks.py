"""What every provider webhook refuses before anything else reads the request.

Twilio and Africa's Talking post small ``application/x-www-form-urlencoded`` bodies (provider reference
§0, §15). A request that is not one — another content type (multipart, JSON, ...), a body over
``MAX_BODY_BYTES`` (413), a body that is not UTF-8, more than ``MAX_FIELDS`` fields (body and query string
together), a field name or value with a C0 control character other than tab, CR and LF (NUL above all) —
comes from no provider and is refused with 400 before its signature or secret is checked and before any
parser sees it: nothing downstream can crash on it (the Twilio SDK's validator raised on the ``None`` name
of an unnamed multipart part, an unauthenticated 500). An empty body passes (nothing to read).

``@provider_webhook`` goes under the route decorator of every provider webhook; the simulator's JSON routes
are not provider webhooks and do not use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
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


def refusal(req: Request) -> tuple[int, str] | None:
    """Why ``req`` cannot be a provider's webhook, as (HTTP status, reason); None when it may be one."""
    req.max_content_length = MAX_BODY_BYTES  # before anything opens the body stream
    try:
        body = req.get_data(cache=True)
    except RequestEntityTooLarge:
        return 413, f"body over {MAX_BODY_BYTES} bytes"
    if body and req.mimetype != FORM:
        return 400, f"content type {req.mimetype[:60]!r} (providers post {FORM})"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "body is not UTF-8"
    fields = list(req.args.items(multi=True))
    if body:
        fields += req.form.items(multi=True)
    if len(fields) > MAX_FIELDS:
        return 400, f"{len(fields)} fields (at most {MAX_FIELDS})"
    for name, value in fields:
        if _CONTROL.search(name) or _CONTROL.search(value):
            return 400, f"a control character in field {name[:40]!r}"
    return None


def provider_webhook(view: F) -> F:
    """Refuse (400/413, logged without the body) whatever no provider sends, then run ``view``."""

    @wraps(view)
    def guarded(*args, **kwargs):
        problem = refusal(request)
        if problem is not None:
            status, reason = problem
            log.warning("webhook %s refused (%d): %s", request.endpoint, status, reason)
            abort(status)
        return view(*args, **kwargs)

    setattr(guarded, MARK, True)
    return guarded  # type: ignore[return-value]
