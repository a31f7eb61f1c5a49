"""Structured, rate-limited, secret-free logging.

One event per line: ``time level logger message key=value ...`` in text form,
or one JSON object per line.  Actors pass their context (``actor``,
``symbol``, ids) through ``extra``, which appears as fields.

Two filters sit on the root handler:

- :class:`RepeatFilter` lets at most ``burst`` records of the same logger
  and message template through per ``interval`` seconds, then reports how
  many it suppressed when the next one passes;
- :class:`SecretFilter` replaces every registered secret value (signing
  secret, passwords, exchange keys) with ``***`` in the final line, so a
  secret that slips into an exception text still never reaches the log.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """``2025-01-01T00:00:00.123Z INFO cryptobot.actors.book message actor=book.BTC/USDT``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        extras = _fields(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with ``ts``, ``level``, ``logger``, ``message`` and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event.update(_fields(record))
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


class RepeatFilter(logging.Filter):
    """Pass at most ``burst`` records per (logger, template) every ``interval`` seconds."""

    def __init__(self, burst: int = 20, interval: float = 60.0):
        super().__init__()
        self.burst = burst
        self.interval = interval
        self._windows: dict[tuple[str, str], list] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = record.created
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            suppressed = window[2] if window else 0
            self._windows[key] = [now, 1, 0]
            if suppressed:
                record.suppressed = suppressed
            if len(self._windows) > 10_000:
                self._windows.clear()
            return True
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        return False


class SecretFilter(logging.Filter):
    """Replace registered secret values with ``***`` in the formatted record."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        # Short values would blank out ordinary words; secrets we issue are long.
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        for key, value in _fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = self.redact(text)
            if clean != text:
                record.exc_info = None
                record.msg = f"{record.getMessage()}\n{clean}"
                record.args = None
        return True


secrets_filter = SecretFilter()


def configure_logging(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Install the formatter and both filters on a fresh root handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter())
    handler.addFilter(secrets_filter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
