"""Publish/subscribe by topic name, synchronous and in-process.

Topics follow the API's WebSocket names (``market.BTC/USDT.ticker``,
``trades.strategy_…``, ``system.status``).  A subscriber is any callable
taking the message; an actor subscribes with its ``ref.tell``.  A failing
subscriber is logged and skipped: it never breaks the publisher or the
other subscribers.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger("cryptobot.core.bus")

Subscriber = Callable[[Any], Any]


class EventBus:
    """Topic to subscribers; ``publish`` calls each one in subscription order."""

    def __init__(self) -> None:
        self._topics: dict[str, list[Subscriber]] = {}
        self._all: list[Callable[[str, Any], Any]] = []
        self.published = 0
        self.subscriber_errors = 0

    def subscribe(self, topic: str, subscriber: Subscriber) -> Callable[[], None]:
        """Subscribe to one topic; return a function that unsubscribes."""
        self._topics.setdefault(topic, []).append(subscriber)

        def unsubscribe() -> None:
            subscribers = self._topics.get(topic)
            if subscribers and subscriber in subscribers:
                subscribers.remove(subscriber)
                if not subscribers:
                    del self._topics[topic]

        return unsubscribe

    def subscribe_all(self, subscriber: Callable[[str, Any], Any]) -> Callable[[], None]:
        """Subscribe to every topic; the subscriber receives (topic, message)."""
        self._all.append(subscriber)
        return lambda: self._all.remove(subscriber) if subscriber in self._all else None

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._topics or bool(self._all)

    def publish(self, topic: str, message: Any) -> None:
        self.published += 1
        for subscriber in self._topics.get(topic, ()):
            try:
                subscriber(message)
            except Exception:  # noqa: BLE001 - isolate the publisher from its subscribers
                self.subscriber_errors += 1
                log.exception("subscriber of %s failed", topic)
        for subscriber in self._all:
            try:
                subscriber(topic, message)
            except Exception:  # noqa: BLE001
                self.subscriber_errors += 1
                log.exception("subscriber of all topics failed on %s", topic)
