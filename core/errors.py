"""Error types of the engine.

Every error the API edge can return derives from :class:`CryptobotError`,
which carries the three fields of the documented error body
``{"error": {"code", "message", "details"}}`` and the HTTP status the edge
maps it to.  Errors that never reach a client (a broken configuration, a
book fault inside the engine) derive from it too, so one ``except`` catches
everything of ours.
"""

from __future__ import annotations

from typing import Any


class CryptobotError(Exception):
    """Base of every error raised by Cryptobot code.

    Parameters
    ----------
    message
        A sentence for the user: what failed, on which value, what to do.
    details
        Field name to problem, for errors about specific inputs.
    """

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details) if details else {}

    def to_body(self) -> dict[str, Any]:
        """Return the documented error body for this error."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationError(CryptobotError, ValueError):
    """An input failed validation; ``details`` names each bad field."""

    code = "invalid_request"
    http_status = 400


class AuthenticationError(CryptobotError):
    """No credentials, or credentials that are invalid, expired or revoked."""

    code = "unauthorized"
    http_status = 401


class PermissionDenied(CryptobotError):
    """The caller is known but may not do this."""

    code = "forbidden"
    http_status = 403


class NotFound(CryptobotError, LookupError):
    """The requested resource does not exist or is not the caller's."""

    code = "not_found"
    http_status = 404


class MethodNotAllowed(CryptobotError):
    code = "method_not_allowed"
    http_status = 405


class Conflict(CryptobotError):
    """The request clashes with the current state (a duplicate, a wrong status)."""

    code = "conflict"
    http_status = 409


class RateLimited(CryptobotError):
    """Too many requests; ``retry_after`` is in whole seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int, details: dict[str, Any] | None = None):
        super().__init__(message, details)
        self.retry_after = retry_after


class ServiceUnavailable(CryptobotError):
    """A dependency (database, exchange, engine) cannot serve the request now."""

    code = "service_unavailable"
    http_status = 503


class ConfigError(CryptobotError):
    """The configuration is invalid; the message names the setting and its source."""

    code = "invalid_configuration"


class BookError(CryptobotError, ValueError):
    """An order-book update was rejected; the book is unchanged."""

    code = "invalid_book_update"
    http_status = 400


class SequenceGap(BookError):
    """An exchange sequence id skipped ahead; the book needs a fresh snapshot.

    Attributes
    ----------
    expected
        The first update id the book could accept next.
    received
        The first update id of the rejected event.
    """

    code = "sequence_gap"

    def __init__(self, message: str, expected: int, received: int):
        super().__init__(message, {"expected": expected, "received": received})
        self.expected = expected
        self.received = received


class OrderRejected(CryptobotError):
    """The risk manager or an exchange rejected an order; ``reason`` is a short code."""

    code = "order_rejected"
    http_status = 400

    def __init__(self, message: str, reason: str, details: dict[str, Any] | None = None):
        super().__init__(message, details)
        self.reason = reason


class IllegalTransition(CryptobotError):
    """A state machine received a trigger its current state does not accept.

    The message reads ``STATE -> TRIGGER``.
    """

    code = "illegal_transition"
    http_status = 409

    def __init__(self, state: str, trigger: str):
        super().__init__(f"{state} -> {trigger}", {"state": state, "trigger": trigger})
        self.state = state
        self.trigger = trigger


class ExchangeError(CryptobotError):
    """An exchange or its gateway failed; ``retryable`` tells whether a retry is safe."""

    code = "exchange_error"
    http_status = 502

    def __init__(self, message: str, retryable: bool = False, details: dict[str, Any] | None = None):
        super().__init__(message, details)
        self.retryable = retryable


class InsufficientFunds(ExchangeError):
    code = "insufficient_funds"
    http_status = 400


class StorageError(CryptobotError):
    """A store failed or refused to start (for example a schema newer than the code)."""

    code = "storage_error"
    http_status = 503


class ActorStopped(CryptobotError):
    """A message was sent to an actor that is stopping, stopped or unknown."""

    code = "actor_stopped"
    http_status = 503
