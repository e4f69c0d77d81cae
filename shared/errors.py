"""Typed errors that map to a 4xx answer naming the field and the reason.

Domain code raises these (or subclasses); one handler per app turns them into JSON. They carry no
HTTP objects, so the domain stays free of the web framework.
"""

from __future__ import annotations


class HulinError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors  # several {field, reason} pairs, when one field is not enough


class InvalidInput(HulinError):
    status = 422
    code = "invalid_input"


class Unauthorized(HulinError):
    status = 401
    code = "unauthorized"


class Forbidden(HulinError):
    status = 403
    code = "forbidden"


class NotFound(HulinError):
    """Also what a caller gets for something outside their scope: as if it did not exist."""

    status = 404
    code = "not_found"


class Conflict(HulinError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class RateLimited(HulinError):
    """Too many requests of one kind from one person; `retry_after_s` says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class Unavailable(HulinError):
    status = 503
    code = "unavailable"
