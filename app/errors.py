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


MAX_ERRORS = 100  # entries of an error list shown to a client
MAX_TEXT = 200  # characters of one string in an error (messages may echo the input)


def capped(errors: list[Any], *, limit: int = MAX_ERRORS) -> list[Any]:
    """An error list as a client gets it (F17): at most ``limit`` entries, long strings cut,
    and, when entries were left out, a last entry saying how many
    (``{"type": "too_many_errors", "left_out": N, ...}``), so a huge bad body cannot make an
    even larger answer."""
    shown = [_short(e) for e in errors[:limit]]
    if len(errors) > limit:
        left_out = len(errors) - limit
        shown.append(
            {
                "loc": [],
                "field": "",
                "msg": f"{left_out} more errors not shown",
                "type": "too_many_errors",
                "left_out": left_out,
            }
        )
    return shown


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dict):
        return {_short(k): _short(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return capped(list(value))
    return value


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code of an error that reached ``main``: files that cannot
    be read or written, invalid values, domain and model errors, database trouble; anything
    else is an internal error (its traceback with ``--verbose``)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or type(exc).__name__
        return f"cannot use {exc.filename}: {reason}", 2
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})", 2
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        ]
        return "; ".join(parts), 2
    if isinstance(exc, DomainError):
        detail = exc.detail
        if isinstance(detail, list):
            detail = "; ".join(
                f"{e.get('field') or '.'.join(map(str, e.get('loc', [])))}: {e.get('msg', e)}"
                if isinstance(e, dict)
                else str(e)
                for e in detail
            )
        return str(detail), 2 if exc.status_code in (400, 413, 415, 422) else 1
    if isinstance(exc, SQLAlchemyError):
        return f"database: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}", 1
    if isinstance(exc, ValueError):  # the engine's ModelError is one
        return str(exc), 2
    return f"internal error ({type(exc).__name__}: {exc}); run with -v for the traceback", 1
