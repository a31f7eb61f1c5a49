"""How the ccxt gateway reads ccxt's errors, backs off, and keeps keys out of logs.

ccxt raises two families.  ``ccxt.ExchangeError`` means the exchange
responded with a rejection (invalid order, unknown order, insufficient
funds, invalid key), so retrying the same request gets the same response.
``ccxt.OperationFailed``, with ``NetworkError``, ``RequestTimeout``,
``ExchangeNotAvailable``, ``DDoSProtection`` and ``RateLimitExceeded`` under
it, means the request failed on the way or was throttled.  Whether such a
request took effect depends on the case, and :func:`failure_kind` separates
the cases.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import ccxt

from cryptobot.core.errors import ExchangeError, InsufficientFunds

RATE_LIMITED = "rate_limited"  # refused before processing (HTTP 418/429): safe to resend after the wait
CLOCK = "clock"  # timestamp outside recvWindow: refused before processing, resync the clock first
UNCERTAIN = "uncertain"  # timeout, connection failure or 5xx: the request may or may not have taken effect
AUTHENTICATION = "authentication"  # key, signature or permission refused
INSUFFICIENT_FUNDS = "insufficient_funds"
NOT_FOUND = "not_found"
REJECTED = "rejected"  # any other refusal by the exchange


def failure_kind(exc: BaseException) -> str:
    """Classify a ccxt exception; the order of the checks follows ccxt's class hierarchy."""
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # siblings in ccxt 4.5
        return RATE_LIMITED
    if isinstance(exc, ccxt.InvalidNonce):
        return CLOCK
    if isinstance(exc, ccxt.OperationFailed):
        return UNCERTAIN
    if isinstance(exc, ccxt.AuthenticationError):
        return AUTHENTICATION
    if isinstance(exc, ccxt.InsufficientFunds):
        return INSUFFICIENT_FUNDS
    if isinstance(exc, ccxt.OrderNotFound):
        return NOT_FOUND
    return REJECTED


class ExchangeRefusal(ExchangeError):
    """The exchange rejected a request; ``kind`` is one of the kinds above."""

    def __init__(self, message: str, kind: str, details: Mapping[str, Any] | None = None):
        super().__init__(message, False, {**dict(details or {}), "reason": kind})
        self.kind = kind


class FundsRefusal(ExchangeRefusal, InsufficientFunds):
    """The exchange rejected a request for lack of funds."""

    code = "insufficient_funds"
    http_status = 400


def refusal(kind: str, message: str, details: Mapping[str, Any] | None = None) -> ExchangeRefusal:
    """Build the refusal error of ``kind``: an InsufficientFunds for a lack of funds."""
    cls = FundsRefusal if kind == INSUFFICIENT_FUNDS else ExchangeRefusal
    return cls(message, kind, details)


_BODY = re.compile(r"\{.*\}", re.DOTALL)


def exchange_message(exc: BaseException) -> str:
    """Return the exchange's own message in a ccxt exception: ``Filter failure: LOT_SIZE (code -1013)``.

    ccxt puts the response body in the exception text.  When the body is a
    JSON object with ``msg`` (Binance's error shape), the function returns
    that message and its code, otherwise the exception text.
    """
    text = str(exc)
    match = _BODY.search(text)
    if match:
        try:
            body = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("msg"):
            code = body.get("code")
            return f"{body['msg']} (code {code})" if code is not None else str(body["msg"])
    return text


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    The n-th retry (n from 0) waits a random time in ``[d/2, d]`` with
    ``d = min(max_delay_s, base_delay_s * 2**n)``, or the exchange's
    ``Retry-After`` if that is longer.
    """

    retries: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= 20:
            raise ValueError(f"'retries' out of range [0, 20], was {self.retries}")
        if self.base_delay_s <= 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError(f"delays must satisfy 0 < base_delay_s <= max_delay_s, "
                             f"were {self.base_delay_s} and {self.max_delay_s}")

    def delay(self, retry: int, retry_after_s: float | None = None) -> float:
        """Return the wait before retry number ``retry``, honoring ``retry_after_s``."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** retry)
        return max(random.uniform(ceiling / 2, ceiling), retry_after_s or 0.0)


def parse_retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Read ``Retry-After`` (whole seconds) from response headers of any letter case."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


class SafeClientMixin:
    """Mixed into a ccxt exchange class: keep ``Retry-After`` and route verbose output through the logger.

    ccxt raises ``DDoSProtection`` or ``RateLimitExceeded`` for HTTP 418
    and 429 but drops the response headers, so the mixin attaches the
    exchange's ``Retry-After`` (seconds) to the error as ``retry_after``.
    With ``verbose`` on, ccxt prints every request with its headers, the
    API key among them.  The mixin sends those lines to the client's logger,
    which redacts them, instead of standard output.
    """

    def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
        try:
            result = super().handle_errors(code, reason, url, method, headers, body, response,  # type: ignore[misc]
                                           request_headers, request_body)
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            exc.retry_after = parse_retry_after(headers)  # type: ignore[attr-defined]
            raise
        if code in (418, 429):
            error = ccxt.RateLimitExceeded(f"{getattr(self, 'id', 'exchange')} {code} {reason} {body}")
            error.retry_after = parse_retry_after(headers)  # type: ignore[attr-defined]
            raise error
        return result

    def log(self, *args: Any) -> None:
        self.logger.debug(" ".join(str(arg) for arg in args))  # type: ignore[attr-defined]


# A signature or an API key header value in a logged request line.
_SIGNATURE = re.compile(r"(signature=)[0-9A-Za-z%+/=]+")
_KEY_HEADER = re.compile(r"('X-MBX-APIKEY':\s*')[^']*(')", re.IGNORECASE)


class Redactor:
    """Replace the given secrets, request signatures and API key headers with ``***``."""

    def __init__(self, secrets: Iterable[str]):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _SIGNATURE.sub(r"\1***", text)
        return _KEY_HEADER.sub(r"\1***\2", text)


class RedactingLogger:
    """The logger handed to ccxt: formats each message, redacts it, then logs it.

    ccxt logs every request and response at DEBUG with their headers, which
    carry the API key.  Redacting here keeps the key out of every handler,
    not only the ones configured by :func:`cryptobot.core.logs.configure_logging`.
    """

    def __init__(self, logger: logging.Logger, redact: Redactor):
        self._logger = logger
        self._redact = redact

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - the logging.Logger name
        return self._logger.isEnabledFor(level)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self._logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.pop("exc_info", None)  # a traceback could quote request headers
        self._logger.log(level, "%s", self._redact(text), **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.CRITICAL, msg, *args, **kwargs)
