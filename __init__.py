"""Cryptobot: a low-latency crypto trading engine.

Single-process uvloop actors pass messages through in-memory mailboxes; the
order book and indicator math are compiled in Cython (``cryptobot.hotpath``);
state lives in PostgreSQL and every tick in ClickHouse; ``cryptobot.api``
serves the REST and WebSocket API.
"""

__version__ = "1.0.0"
