"""The API's errors: one exception, answered as JSON by the blueprint (``{"error", "message", "field"}``)."""

from __future__ import annotations

from flask import jsonify


class ApiError(Exception):
    """An answer other than success: ``status`` (409, 422...), a short code, a sentence, and the field at fault."""

    def __init__(self, status: int, error: str, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.status, self.error, self.message, self.field, self.extra = status, error, message, field, extra

    def response(self):
        body = {"error": self.error, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return jsonify(body), self.status


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid", message, field=field)
