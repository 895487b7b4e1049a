"""Domain errors raised by services; ``app.main`` maps them to HTTP in one handler."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. ``detail`` is what the client sees under ``{"detail": ...}``."""

    status_code = 400
    headers: dict[str, str] | None = None  # extra response headers (e.g. Retry-After)

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail if detail is not None else self.__class__.__name__


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class TooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415


class TooManyRequests(DomainError):
    """A limit is reached (429); ``retry_after`` seconds is sent as the Retry-After header."""

    status_code = 429

    def __init__(self, detail: Any = None, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(int(retry_after), 1))}


class InvalidInput(DomainError):
    """Validation failure listing every problem: ``[{"loc": [...], "msg": str}, ...]``.

    ``loc`` follows FastAPI's convention (e.g. ``["body", "answers", "REL3"]``) so a client sees
    the same shape whether pydantic or a service found the problem; :meth:`by_field` gives the
    dotted names (``answers.REL3``) the HTML form shows beside each item.
    """

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    def by_field(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for err in self.errors:
            loc = [str(p) for p in err.get("loc", []) if p != "body"]
            out.setdefault(".".join(loc), str(err.get("msg", "")))
        return out


def field_error(*loc: str | int, msg: str, type_: str = "value_error") -> dict[str, Any]:
    """One entry of :class:`InvalidInput`; ``field`` is the dotted name, e.g. ``answers.REL3``."""
    return {
        "loc": ["body", *loc],
        "field": ".".join(str(p) for p in loc),
        "msg": msg,
        "type": type_,
    }
