"""The Binance spot and USD-M venues: streams, subscribers, books and the replay fan-out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from cryptobot.core.errors import ConfigError
from cryptobot.gateways.emulator.binance_reference import build_exchange_info
from cryptobot.gateways.emulator.books import BinanceBook
from cryptobot.gateways.emulator.connection import ConnectionPolicy, text_frame
from cryptobot.gateways.emulator.depth_streams import DepthAggregator, depth_speed
from cryptobot.gateways.emulator.rewrite import Spans, minute_span, rewrite_binance, span
from cryptobot.gateways.emulator.tape import Tape
from cryptobot.gateways.emulator.venue import Venue
from cryptobot.gateways.recordings import DEPTH_UPDATE, RecordedFrame, Recording, ReferenceData

if TYPE_CHECKING:
    from cryptobot.gateways.emulator.binance_ws import BinanceConnection
    from cryptobot.gateways.emulator.config import EmulatorConfig

log = logging.getLogger("cryptobot.gateways.emulator")


def combined_text(stream: str, payload: bytes) -> bytes:
    """Wrap a raw payload as Binance's combined-stream frame text."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def _raw_framed(frame: RecordedFrame) -> bytes:
    return text_frame(frame.payload.encode())


def _combined_framed(frame: RecordedFrame) -> bytes:
    return text_frame(frame.text.encode())


def binance_spans(recording: Recording) -> Spans:
    """Measure how far one loop must move update ids, trade ids and times."""
    update_ids, trade_ids, times = [], [], []
    for snapshot in recording.snapshots.values():
        update_ids.append(snapshot.last_update_id)
    for frame in recording.frames:
        data = orjson.loads(frame.payload)
        if "E" in data:
            times.append(data["E"])
        kind = frame.kind
        if kind == DEPTH_UPDATE:
            update_ids.extend((data["U"], data["u"]))
        elif kind == "bookTicker":
            update_ids.append(data["u"])
        elif kind == "trade":
            trade_ids.append(data["t"])
        elif kind == "aggTrade":
            trade_ids.extend((data["a"], data["f"], data["l"]))
        elif kind == "kline":
            trade_ids.extend(v for v in (data["k"]["f"], data["k"]["L"]) if v >= 0)
    first_ms = min(times) if times else 0
    last_ms = max(times) if times else 0
    return Spans(span(update_ids), span(trade_ids), minute_span(first_ms, last_ms))


class BinanceVenue(Venue):
    """One Binance market (``binance`` spot or ``binance_usdm``) replaying its tapes.

    Subscribers are kept per stream name as tuples, replaced on each change,
    so the replay loop iterates them without copying.
    """

    def __init__(self, name: str, config: EmulatorConfig, recordings: list[tuple[str, Recording]],
                 reference: ReferenceData | None):
        policy = ConnectionPolicy(
            config.venue_setting(name, "ping_interval"),
            config.venue_setting(name, "pong_timeout"),
            config.max_connection_age,
            config.venue_setting(name, "max_messages_per_second"),
        )
        super().__init__(config, policy)
        self.name = name
        self.futures = name == "binance_usdm"
        self.subscribers: dict[str, tuple[BinanceConnection, ...]] = {}
        self.stream_tape: dict[str, Tape] = {}
        self.books: dict[str, BinanceBook] = {}
        self.book_tape: dict[str, Tape] = {}
        self._depth_frames: dict[str, list[int]] = {}
        self._book_cursor: dict[str, int] = {}
        self.derivable: dict[str, tuple[str, int]] = {}
        self.aggregators: dict[str, DepthAggregator] = {}
        self._aggregators_by_source: dict[str, list[DepthAggregator]] = {}
        for label, recording in recordings:
            self._add_tape(label, recording)
        self._find_derivable()
        for tape in self.tapes:
            # Built here, off the event loop (the venue is built in a worker thread).  Raw-stream
            # frames are built at the first raw subscriber instead, to halve the memory when none.
            tape.framed("combined", _combined_framed)
        self.exchange_info = build_exchange_info(reference, [rec for _, rec in recordings], self.futures)
        self.listed = {entry["symbol"] for entry in self.exchange_info["symbols"]}

    def _add_tape(self, label: str, recording: Recording) -> None:
        expected = "binance_usdm" if self.futures else "binance"
        if recording.exchange != expected:
            raise ConfigError(f"Cannot replay {label} on {self.name}: it is a {recording.exchange} recording",
                              {"recordings": label})
        for symbol in recording.symbols:
            if symbol in self.books or any(symbol == s for t in self.tapes for s in t.recording.symbols):
                raise ConfigError(f"Cannot replay {label} on {self.name}: symbol {symbol} is already replayed "
                                  "by another recording", {"recordings": label})
        config = self.config
        spans = binance_spans(recording) if (config.loop or config.rebase_time) else Spans(0, 0, 0)
        first_ms = recording.frames[0].ts_ns // 1_000_000 if recording.frames else 0
        tape = Tape(label, recording, self, pace=config.pace, speed=config.speed, loop=config.loop,
                    rebase=config.rebase_time, spans=spans, first_event_ms=first_ms,
                    start_delay=config.start_delay)
        self.tapes.append(tape)
        for stream in tape.channels:
            self.stream_tape[stream] = tape
        for symbol, snapshot in recording.snapshots.items():
            self.books[symbol] = BinanceBook(snapshot)
            self.book_tape[symbol] = tape
            self._depth_frames[symbol] = [i for i, f in enumerate(recording.frames)
                                          if f.kind == DEPTH_UPDATE and f.symbol == symbol]
            self._book_cursor[symbol] = 0

    def _find_derivable(self) -> None:
        recorded = {}
        for stream in self.stream_tape:
            parsed = depth_speed(stream, self.futures)
            if parsed is not None:
                symbol, speed = parsed
                if symbol not in recorded or speed < recorded[symbol][1]:
                    recorded[symbol] = (stream, speed)
        suffixes = ("", "@250ms", "@500ms", "@100ms") if self.futures else ("", "@1000ms")
        for symbol, (source, source_speed) in recorded.items():
            for suffix in suffixes:
                stream = f"{symbol}@depth{suffix}"
                speed = depth_speed(stream, self.futures)[1]
                if stream not in self.stream_tape and speed > source_speed:
                    self.derivable[stream] = (source, speed)

    # ---- subscriptions -----------------------------------------------------

    def has_data(self, stream: str) -> bool:
        return stream in self.stream_tape or stream in self.derivable

    def subscribe(self, connection: BinanceConnection, stream: str) -> None:
        current = self.subscribers.get(stream, ())
        if connection not in current:
            self.subscribers[stream] = current + (connection,)
        if stream in self.derivable and stream not in self.aggregators:
            source, speed = self.derivable[stream]
            aggregator = DepthAggregator(stream, source, speed, self.futures)
            self.aggregators[stream] = aggregator
            self._aggregators_by_source.setdefault(source, []).append(aggregator)
        tape = self.stream_tape.get(stream) or self.stream_tape.get(self.derivable.get(stream, ("",))[0])
        if tape is not None:
            tape.begin()

    def unsubscribe(self, connection: BinanceConnection, stream: str) -> None:
        remaining = tuple(c for c in self.subscribers.get(stream, ()) if c is not connection)
        if remaining:
            self.subscribers[stream] = remaining
            return
        self.subscribers.pop(stream, None)
        aggregator = self.aggregators.pop(stream, None)
        if aggregator is not None:
            self._aggregators_by_source[aggregator.source].remove(aggregator)
            if not self._aggregators_by_source[aggregator.source]:
                del self._aggregators_by_source[aggregator.source]

    # ---- replay ------------------------------------------------------------

    def dispatch(self, tape: Tape, index: int) -> None:
        frame = tape.frames[index]
        stream = frame.channel
        subscribers = self.subscribers.get(stream)
        aggregators = self._aggregators_by_source.get(stream)
        if not subscribers and not aggregators:
            return
        if tape.offsets.active or aggregators or (self.stream_faults and frame.kind == DEPTH_UPDATE):
            self._dispatch_slow(tape, frame, subscribers, aggregators)
            return
        combined = tape.framed("combined", _combined_framed)[index]
        raw = tape.framed("raw", _raw_framed)[index] if self._wants_raw() else combined
        for connection in subscribers:
            if connection.plain:
                connection.write(combined if connection.combined else raw)
            else:
                connection.deliver(frame.kind, frame.symbol, raw, combined)

    def dispatch_batch(self, tape: Tape, start: int, end: int) -> None:
        """Send a batch of frames in fast mode: pre-framed bytes, no parsing, lookups out of the loop."""
        if tape.offsets.active or self._aggregators_by_source or self.stream_faults:
            for index in range(start, end):
                self.dispatch(tape, index)
            return
        combined = tape.framed("combined", _combined_framed)
        raw = tape.framed("raw", _raw_framed) if self._wants_raw() else combined
        channels = tape.channel_of
        subscribers_of = self.subscribers.get
        for index in range(start, end):
            subscribers = subscribers_of(channels[index])
            if subscribers:
                for connection in subscribers:
                    if connection.plain:
                        connection.write(combined[index] if connection.combined else raw[index])
                    else:
                        frame = tape.frames[index]
                        connection.deliver(frame.kind, frame.symbol, raw[index], combined[index])

    def _wants_raw(self) -> bool:
        """Tell whether a connection gets raw payloads (so the raw pre-framed list is needed)."""
        return any(not connection.combined for connection in self.connections.values())

    def _dispatch_slow(self, tape: Tape, frame: RecordedFrame, subscribers, aggregators) -> None:
        data = None
        payload = frame.payload.encode()
        if tape.offsets.active or aggregators:
            data = orjson.loads(payload)
            if tape.offsets.active:
                payload = orjson.dumps(rewrite_binance(data, frame.kind, tape.offsets))
        if frame.kind == DEPTH_UPDATE and self.stream_faults and self.take_stream_fault("skip_update", frame.symbol):
            log.info("withheld a %s depth update from every subscriber (skip_update fault)", frame.symbol)
            return
        if subscribers:
            self._send(subscribers, frame.kind, frame.symbol, frame.channel, payload)
        for aggregator in aggregators or ():
            merged = aggregator.feed(data)
            if merged is not None:
                self._send_merged(aggregator, merged)

    def _send_merged(self, aggregator: DepthAggregator, merged: dict) -> None:
        subscribers = self.subscribers.get(aggregator.stream)
        if subscribers:
            self._send(subscribers, DEPTH_UPDATE, merged["s"], aggregator.stream, orjson.dumps(merged))

    @staticmethod
    def _send(subscribers, kind: str, symbol: str, stream: str, payload: bytes) -> None:
        raw = text_frame(payload)
        combined = text_frame(combined_text(stream, payload))
        for connection in subscribers:
            if connection.plain:
                connection.write(combined if connection.combined else raw)
            else:
                connection.deliver(kind, symbol, raw, combined)

    async def on_tape_end(self, tape: Tape) -> None:
        for aggregator in list(self.aggregators.values()):
            if aggregator.source in tape.channels:
                merged = aggregator.flush()
                if merged is not None:
                    self._send_merged(aggregator, merged)
        if not self.config.loop:
            return
        closed = self.close_subscribers(tape)
        for aggregator in self.aggregators.values():
            if aggregator.source in tape.channels:
                aggregator.flush()
        for symbol, book_tape in self.book_tape.items():
            if book_tape is tape:
                self.books[symbol].reset()
                self._book_cursor[symbol] = 0
        tape.next_loop()
        log.info("%s: closed %d connection(s) at the end of %s; loop %d starts at the next subscription",
                 self.name, closed, tape.name, tape.loop_index)

    def close_subscribers(self, tape: Tape) -> int:
        streams = set(tape.channels)
        streams.update(s for s, (source, _) in self.derivable.items() if source in tape.channels)
        closing = {c for stream in streams for c in self.subscribers.get(stream, ())}
        for connection in closing:
            connection.close()
        return len(closing)

    # ---- books ---------------------------------------------------------------

    def current_book(self, symbol: str) -> tuple[BinanceBook, Tape] | None:
        """Return the book of ``symbol`` caught up with every diff sent so far, and its tape."""
        book = self.books.get(symbol)
        if book is None:
            return None
        tape = self.book_tape[symbol]
        indices = self._depth_frames[symbol]
        cursor = self._book_cursor[symbol]
        frames = tape.frames
        while cursor < len(indices) and indices[cursor] < tape.position:
            book.apply(orjson.loads(frames[indices[cursor]].payload))
            cursor += 1
        self._book_cursor[symbol] = cursor
        return book, tape
