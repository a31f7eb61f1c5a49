"""Run ccxt calls that are safe to repeat (reads and cancels) with bounded retries."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import ccxt

from cryptobot.core.errors import ExchangeError
from cryptobot.gateways.ccxt_errors import (
    CLOCK, RATE_LIMITED, UNCERTAIN, Redactor, RetryPolicy, exchange_message, failure_kind, refusal,
)

log = logging.getLogger("cryptobot.gateways.ccxt")


class RetryingCaller:
    """Calls a ccxt client with retries on rate limits, clock errors and network failures.

    Parameters
    ----------
    client
        The ccxt async exchange client.
    exchange
        The engine's name of the exchange, for messages.
    retry
        How many retries and how long to wait between them.
    sleep
        The coroutine that waits between retries.
    redact
        Removes credentials and signatures from every message logged or raised.
    """

    def __init__(self, client: Any, exchange: str, retry: RetryPolicy, sleep: Callable[[float], Awaitable[Any]],
                 redact: Redactor):
        self.client = client
        self.exchange = exchange
        self.retry = retry
        self.sleep = sleep
        self.redact = redact

    def message(self, exc: BaseException) -> str:
        """Return the exchange's message in ``exc``, without credentials or signatures."""
        return self.redact(exchange_message(exc))

    async def call(self, make_call: Callable[[], Awaitable[Any]], action: str) -> Any:
        """Await ``make_call()``, retrying failures that may be repeated.

        Raises
        ------
        ExchangeRefusal
            When the exchange rejected the request (``kind`` gives the cause), as an
            InsufficientFunds for a lack of funds.
        ExchangeError
            With ``retryable=True`` when the retries ran out.
        """
        retry = 0
        while True:
            try:
                return await make_call()
            except ccxt.BaseError as exc:
                kind, message = failure_kind(exc), self.message(exc)
                if kind not in (RATE_LIMITED, CLOCK, UNCERTAIN):
                    raise refusal(kind, f"Cannot {action}: {self.exchange} refused: {message}") from None
                if retry >= self.retry.retries:
                    raise ExchangeError(f"Cannot {action}: {self.exchange} kept failing after {retry + 1} attempts "
                                        f"({message})", retryable=True, details={"action": action}) from None
                await self.back_off(exc, kind, retry, action)
                retry += 1

    async def back_off(self, exc: BaseException, kind: str, retry: int, action: str) -> None:
        """Prepare retry number ``retry``: measure the clock offset again, or wait."""
        if kind == CLOCK:
            log.warning("%s: timestamp outside the exchange's recvWindow; measuring the clock offset again", action)
            try:
                await self.client.load_time_difference()
            except ccxt.BaseError as error:
                log.warning("cannot measure the %s clock offset: %s", self.exchange, self.message(error))
            return
        delay = self.retry.delay(retry, getattr(exc, "retry_after", None))
        log.warning("%s failed (%s: %s); retry %d of %d in %.2f s", action, type(exc).__name__, self.message(exc),
                    retry + 1, self.retry.retries, delay)
        await self.sleep(delay)
