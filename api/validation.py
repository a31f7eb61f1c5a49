"""Reading request bodies and query strings into checked values.

Every reader collects the problems of all fields before failing, so one
400 response names each offending field in ``details`` at once instead of
one per round trip.  The checks themselves are the storage layer's
(``check_text``, ``check_decimal`` ...), so the API and the store accept
exactly the same values.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Callable, Iterable

import orjson
from aiohttp import web

from cryptobot.core.clock import iso_to_ns
from cryptobot.core.errors import ValidationError

MAX_PAGE = 1_000_000
MAX_PAGE_LIMIT = 100
DEFAULT_PAGE_LIMIT = 10
_MISSING: Any = object()


class Problems:
    """Collects field problems; :meth:`raise_if_any` raises one ValidationError naming them all."""

    def __init__(self) -> None:
        self.details: dict[str, str] = {}
        self._first_message = ""

    def add(self, field: str, problem: str, message: str | None = None) -> None:
        if field not in self.details:
            self.details[field] = problem
            if not self._first_message:
                self._first_message = message or f"invalid '{field}': {problem}"

    def check(self, field: str, check: Callable[[], Any]) -> Any:
        """Run ``check``; record its ValidationError under ``field`` and return None on failure."""
        try:
            return check()
        except ValidationError as exc:
            problem = exc.details.get(field) or next(iter(exc.details.values()), None) or exc.message
            self.add(field, str(problem), exc.message)
            return None

    def raise_if_any(self) -> None:
        if not self.details:
            return
        count = len(self.details)
        message = self._first_message if count == 1 else f"{count} invalid fields: {', '.join(self.details)}"
        raise ValidationError(message, dict(self.details))


async def read_json_object(request: web.Request, allowed: Iterable[str], required: Iterable[str] = (),
                           empty_ok: bool = False) -> dict[str, Any]:
    """Return the request body as a JSON object with only ``allowed`` keys and every ``required`` one.

    An empty body counts as ``{}`` when ``empty_ok`` is set.

    Raises
    ------
    ValidationError
        For a body that is not JSON or not an object, unknown fields, or
        missing required fields (all of them named in ``details``).
    """
    raw = await request.read()
    required = tuple(required)
    if not raw.strip():
        if not empty_ok:
            if required:
                names = ", ".join(f"'{name}'" for name in required)
                raise ValidationError(f"The request body is empty; send a JSON object with {names}",
                                      {"body": "required", **{name: "required" for name in required}})
            raise ValidationError("The request body is empty; send a JSON object", {"body": "required"})
        body: Any = {}
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"The request body is not valid JSON: {exc}", {"body": "invalid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError(f"The request body must be a JSON object, was {type(body).__name__}",
                              {"body": "expected a JSON object"})
    allowed = set(allowed)
    problems = Problems()
    for name in body:
        if name not in allowed:
            problems.add(name, "unknown field", f"unknown field '{name}'; accepted: {', '.join(sorted(allowed))}")
    for name in required:
        if body.get(name) is None:
            problems.add(name, "required", f"'{name}' is required")
    problems.raise_if_any()
    return body


def query_int(request: web.Request, name: str, problems: Problems, *, default: int | None, minimum: int,
              maximum: int) -> int | None:
    """Read an integer query parameter within [minimum, maximum]; record a problem when invalid."""
    raw = request.query.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 12:
        problems.add(name, "expected an integer", f"'{name}' must be an integer, was {raw!r}")
        return None
    value = int(text)
    if not minimum <= value <= maximum:
        problems.add(name, f"out of range [{minimum}, {maximum}]", f"'{name}' out of range [{minimum}, {maximum}], was {value}")
        return None
    return value


def query_time(request: web.Request, name: str, problems: Problems) -> int | None:
    """Read an ISO 8601 timestamp query parameter as engine time (ns), or None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    return problems.check(name, lambda: iso_to_ns(raw, name))


def query_text(request: web.Request, name: str, problems: Problems, check: Callable[[str], Any]) -> Any:
    """Read a text query parameter through ``check`` (a storage check function), or None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    return problems.check(name, lambda: check(raw))


def query_choice(request: web.Request, name: str, problems: Problems, choices: tuple[str, ...],
                 default: str | None = None) -> str | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw not in choices:
        problems.add(name, f"expected one of {', '.join(choices)}", f"'{name}' must be one of {', '.join(choices)}, was {raw!r}")
        return None
    return raw


def pagination(request: web.Request, problems: Problems) -> tuple[int, int]:
    """Read ``page`` (>= 1, default 1) and ``limit`` (1 to 100, default 10)."""
    page = query_int(request, "page", problems, default=1, minimum=1, maximum=MAX_PAGE)
    limit = query_int(request, "limit", problems, default=DEFAULT_PAGE_LIMIT, minimum=1, maximum=MAX_PAGE_LIMIT)
    return page or 1, limit or DEFAULT_PAGE_LIMIT


def pagination_block(total: int, page: int, limit: int) -> dict[str, int]:
    """Return the documented ``pagination`` object."""
    return {"total": total, "page": page, "limit": limit, "pages": math.ceil(total / limit) if limit else 0}


def paginate(rows: list, page: int, limit: int) -> dict[str, Any]:
    """Return ``{"data", "pagination"}`` for one page of an in-memory list."""
    start = (page - 1) * limit
    return {"data": rows[start:start + limit], "pagination": pagination_block(len(rows), page, limit)}


def body_number(body: dict, name: str, problems: Problems, *, positive: bool = False, non_negative: bool = False,
                default: Any = _MISSING) -> Decimal | None:
    """Read a JSON number field as an exact Decimal (``0.1`` stays 0.1)."""
    raw = body.get(name, default)
    if raw is _MISSING or raw is None:
        if default is _MISSING:
            problems.add(name, "required", f"'{name}' is required")
        return None if raw is _MISSING else raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        problems.add(name, "expected a number", f"'{name}' must be a number, was {raw!r}")
        return None
    value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    if not value.is_finite():
        problems.add(name, "expected a finite number")
        return None
    if positive and value <= 0:
        problems.add(name, "must be > 0", f"'{name}' must be > 0, was {raw!r}")
        return None
    if non_negative and value < 0:
        problems.add(name, "must be >= 0", f"'{name}' must be >= 0, was {raw!r}")
        return None
    return value


def body_int(body: dict, name: str, problems: Problems, *, minimum: int, maximum: int, default: Any = _MISSING) -> int | None:
    raw = body.get(name, default)
    if raw is _MISSING:
        problems.add(name, "required", f"'{name}' is required")
        return None
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.add(name, "expected an integer", f"'{name}' must be an integer, was {raw!r}")
        return None
    if not minimum <= raw <= maximum:
        problems.add(name, f"out of range [{minimum}, {maximum}]", f"'{name}' out of range [{minimum}, {maximum}], was {raw}")
        return None
    return raw


def body_bool(body: dict, name: str, problems: Problems, default: bool) -> bool:
    raw = body.get(name, default)
    if raw is None:
        return default
    if not isinstance(raw, bool):
        problems.add(name, "expected true or false", f"'{name}' must be true or false, was {raw!r}")
        return default
    return raw


def body_text(body: dict, name: str, problems: Problems, *, max_length: int, min_length: int = 1,
              default: Any = _MISSING) -> str | None:
    raw = body.get(name, default)
    if raw is _MISSING:
        problems.add(name, "required", f"'{name}' is required")
        return None
    if raw is None:
        return None
    if not isinstance(raw, str):
        problems.add(name, "expected a string", f"'{name}' must be a string, was {type(raw).__name__}")
        return None
    if not min_length <= len(raw) <= max_length:
        problems.add(name, f"length out of range [{min_length}, {max_length}]",
                     f"'{name}' must have {min_length} to {max_length} characters, had {len(raw)}")
        return None
    return raw


def body_choice(body: dict, name: str, problems: Problems, choices: tuple[str, ...], default: Any = _MISSING) -> str | None:
    raw = body.get(name, default)
    if raw is _MISSING:
        problems.add(name, "required", f"'{name}' is required")
        return None
    if raw is None:
        return None
    if raw not in choices:
        problems.add(name, f"expected one of {', '.join(choices)}", f"'{name}' must be one of {', '.join(choices)}, was {raw!r}")
        return None
    return raw
