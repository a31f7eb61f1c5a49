"""Loaders of the two recorded capture formats.

F1 (hftbacktest raw captures, gzip): one record per line,
``<local receive stamp> <frame JSON>``, the stamp in nanoseconds (19
digits) or microseconds (16 digits).  Frames are Binance combined-stream
frames, except one line per capture: the raw body of the REST depth
snapshot the recorder fetched.  That line comes a few lines after the first
diffs, because the recorder buffered diffs while the request was in flight.

F2 (cryptofeed raw captures, text): each line is one of
``configuration: {json}``; ``<ws url> <-> <seconds>`` (connection opened);
``<ws url> <- <seconds>: <json>`` (a frame the recorder sent);
``<seconds>: <json>`` (a frame received, verbatim);
``<http url> -> <seconds>: <json body>`` (a REST GET body); or empty.

Every line is validated.  A strict load raises :class:`RecordingError`
naming the file and the line numbers of the first malformed lines and
returns nothing; a non-strict load skips them and lists them in
``Recording.skipped``.
"""

from __future__ import annotations

import gzip
import heapq
import logging
import os
import sys
import zlib
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

import orjson

from cryptobot.gateways.recordings import binance as binance_frames
from cryptobot.gateways.recordings import kraken as kraken_frames
from cryptobot.gateways.recordings.model import (
    BINANCE,
    BINANCE_COINM,
    BINANCE_USDM,
    DEPTH_UPDATE,
    EXCHANGES,
    KRAKEN,
    SUBSCRIPTION_STATUS,
    RecordedFrame,
    Recording,
    RecordingError,
    ReferenceData,
)

log = logging.getLogger("cryptobot.gateways.recordings")

_MAX_REPORTED = 20
_HOSTS = {
    "stream.binance.com": BINANCE,
    "api.binance.com": BINANCE,
    "www.binance.com": BINANCE,
    "fstream.binance.com": BINANCE_USDM,
    "fapi.binance.com": BINANCE_USDM,
    "dstream.binance.com": BINANCE_COINM,
    "dapi.binance.com": BINANCE_COINM,
    "ws.kraken.com": KRAKEN,
    "api.kraken.com": KRAKEN,
}


class _Problems:
    """Collects malformed lines so one error can list them all."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.items: list[tuple[str, int, str]] = []

    def add(self, source: str, line: int, problem: str) -> None:
        self.items.append((source, line, problem))

    def finish(self, recording_name: str) -> list[tuple[str, int, str]]:
        if not self.items:
            return []
        if self.strict:
            shown = self.items[:_MAX_REPORTED]
            listing = "; ".join(f"{source} line {line}: {problem}" for source, line, problem in shown)
            more = f" (and {len(self.items) - len(shown)} more)" if len(self.items) > len(shown) else ""
            raise RecordingError(
                f"Cannot load {recording_name}: {len(self.items)} malformed line(s): {listing}{more}",
                {"path": recording_name, "lines": {f"{s}:{n}": p for s, n, p in shown}},
            )
        for source, line, problem in self.items[:_MAX_REPORTED]:
            log.warning("skipped malformed line %s:%d: %s", source, line, problem)
        return list(self.items)


def _exchange_of_url(url: str) -> str | None:
    return _HOSTS.get(urlsplit(url).hostname or "")


def _check_exchange(exchange: str | None) -> None:
    if exchange is not None and exchange not in EXCHANGES:
        raise RecordingError(f"'exchange' must be one of {', '.join(EXCHANGES)}, was {exchange!r}", {"exchange": exchange})


def parse_stamp_ns(text: str) -> int:
    """Convert an F1 integer stamp (ns, µs or ms by digit count) to nanoseconds."""
    if not text.isdigit():
        raise ValueError(f"timestamp {text!r} is not an integer")
    digits = len(text)
    if digits == 19:
        return int(text)
    if digits == 16:
        return int(text) * 1_000
    if digits == 13:
        return int(text) * 1_000_000
    raise ValueError(f"timestamp {text!r} has {digits} digits, expected 19 (ns), 16 (µs) or 13 (ms)")


def parse_seconds_ns(text: str) -> int:
    """Convert an F2 ``seconds.fraction`` stamp to nanoseconds without float rounding."""
    whole, _, fraction = text.partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 9:
        raise ValueError(f"timestamp {text!r} is not <seconds>.<fraction>")
    return int(whole) * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


def _open_lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.rstrip("\n")
    except FileNotFoundError:
        raise RecordingError(f"Cannot load {path}: file not found", {"path": str(path)}) from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise RecordingError(f"Cannot load {path}: {exc}", {"path": str(path)}) from None


def load_f1(paths: Iterable[str | os.PathLike], *, exchange: str | None = None, strict: bool = True) -> Recording:
    """Load one hftbacktest capture, given as its file and its continuation files.

    Files are replayed concatenated in name order (``*_20240808.gz`` then
    ``*_20240809.gz``).  The capture must hold one symbol and one snapshot.

    Parameters
    ----------
    paths
        The gzip files of the capture.
    exchange
        ``binance``, ``binance_usdm`` or ``binance_coinm``; detected from the
        depth frames (``pu`` means futures, ``ps`` COIN-M) when omitted.
    strict
        Raise on the first malformed lines (True) or skip them (False).

    Raises
    ------
    RecordingError
        For a missing or corrupt file, malformed lines (strict), no or
        several snapshots, or several symbols.
    """
    _check_exchange(exchange)
    files = sorted((Path(p) for p in paths), key=lambda p: p.name)
    if not files:
        raise RecordingError("Cannot load an F1 capture: no files given", {"paths": []})
    name = ", ".join(str(p) for p in files)
    problems = _Problems(strict)
    frames: list[RecordedFrame] = []
    pending: list[tuple[dict, int, str, str, int, int]] = []
    futures: bool | None = None if exchange is None else exchange != BINANCE
    detected = exchange

    for path in files:
        source = path.name
        for number, line in _open_lines(path):
            if not line:
                continue
            stamp, sep, text = line.partition(" ")
            try:
                if not sep:
                    raise ValueError("no space between the timestamp and the frame")
                ts_ns = parse_stamp_ns(stamp)
                if text.startswith('{"lastUpdateId"'):
                    body = binance_frames.parse_snapshot(text, symbol="")
                    pending.append((body, ts_ns, text, source, number, len(frames)))
                    continue
                kind, symbol, stream, offset, data = binance_frames.classify_combined(text, futures)
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
                problems.add(source, number, str(exc))
                continue
            if kind == DEPTH_UPDATE and detected is None:
                detected = binance_frames.exchange_of(data)
                futures = detected != BINANCE
            frames.append(RecordedFrame(ts_ns, text, sys.intern(kind), sys.intern(symbol), sys.intern(stream),
                                        source, number, -1, offset))

    skipped = problems.finish(name)
    recording = Recording(exchange=detected or BINANCE, frames=frames, sources=tuple(p.name for p in files), skipped=skipped)
    symbols = recording.symbols
    if len(symbols) > 1:
        raise RecordingError(f"Cannot load {name}: an F1 capture contains one symbol, found {', '.join(symbols)}",
                             {"path": name, "symbols": symbols})
    if len(pending) != 1:
        raise RecordingError(f"Cannot load {name}: expected exactly one depth snapshot line, found {len(pending)}",
                             {"path": name, "snapshots": len(pending)})
    body, ts_ns, text, source, number, position = pending[0]
    symbol = body.get("symbol") or (symbols[0] if symbols else "")
    recording.snapshots[symbol] = binance_frames.make_snapshot(body, symbol, ts_ns, text, source, number, position)
    return recording


def _f2_entries(path: Path, problems: _Problems, hosts: set[str], sent: list, rest: list) -> Iterator[tuple[int, int, str]]:
    """Yield (ts_ns, line, text) of received frames; collect sent frames, REST bodies and hosts."""
    for number, line in _open_lines(path):
        try:
            if not line:
                continue
            if line.startswith("configuration: "):
                orjson.loads(line[len("configuration: "):])
            elif line[0].isdigit():
                stamp, sep, text = line.partition(": ")
                if not sep:
                    raise ValueError("received frame line is not '<seconds>: <json>'")
                yield parse_seconds_ns(stamp), number, text
            elif " <-> " in line:
                url, _, stamp = line.partition(" <-> ")
                parse_seconds_ns(stamp)
                hosts.add(url)
            elif " <- " in line:
                url, _, rest_text = line.partition(" <- ")
                stamp, sep, text = rest_text.partition(": ")
                orjson.loads(text)
                sent.append((parse_seconds_ns(stamp), text))
                hosts.add(url)
            elif " -> " in line:
                url, _, rest_text = line.partition(" -> ")
                stamp, sep, text = rest_text.partition(": ")
                if not sep:
                    raise ValueError("REST line is not '<url> -> <seconds>: <body>'")
                rest.append((parse_seconds_ns(stamp), url, text, path.name, number))
                hosts.add(url)
            else:
                raise ValueError("line matches none of the capture line forms")
        except ValueError as exc:
            problems.add(path.name, number, str(exc))


def load_f2(paths: Iterable[str | os.PathLike], *, exchange: str | None = None, strict: bool = True) -> Recording:
    """Load cryptofeed captures of one exchange, merged by receive time.

    Give a connection file with its snapshot file (``BINANCE.ws.1.0`` and
    ``BINANCE.http.0.0``), a combined file (``BINANCE-b38f7c.0``), or several
    connections of one session (``KRAKEN.ws.48.0``, ``.49.0``, ``.50.0``).
    Frames of one file keep their file order.

    Raises
    ------
    RecordingError
        For missing files, malformed lines (strict), files of different
        exchanges, or an exchange that cannot be told.
    """
    _check_exchange(exchange)
    files = [Path(p) for p in paths]
    if not files:
        raise RecordingError("Cannot load an F2 capture: no files given", {"paths": []})
    name = ", ".join(str(p) for p in files)
    problems = _Problems(strict)
    urls: set[str] = set()
    sent: list[tuple[int, str]] = []
    rest: list[tuple[int, str, str, str, int]] = []
    streams = []
    for index, path in enumerate(files):
        entries = [(ts, index, number, text) for ts, number, text in _f2_entries(path, problems, urls, sent, rest)]
        streams.append(entries)
    merged = list(heapq.merge(*streams, key=lambda entry: entry[0]))

    exchanges = {_exchange_of_url(url) for url in urls} - {None}
    if exchange is None:
        if len(exchanges) > 1:
            raise RecordingError(f"Cannot load {name}: files of several exchanges ({', '.join(sorted(exchanges))})",
                                 {"path": name})
        exchange = exchanges.pop() if exchanges else None
    if exchange is None:
        raise RecordingError(f"Cannot load {name}: the exchange cannot be told from the URLs; pass 'exchange'",
                             {"path": name})

    recording = Recording(exchange=exchange, frames=[], sent=sorted(sent), sources=tuple(p.name for p in files))
    if exchange == KRAKEN:
        _classify_kraken(merged, files, recording, problems)
    else:
        _classify_binance(merged, files, recording, problems, futures=exchange != BINANCE)
        _attach_snapshots(rest, recording, problems)
    recording.skipped = problems.finish(name)
    return recording


def _classify_binance(merged, files, recording: Recording, problems: _Problems, futures: bool) -> None:
    for ts_ns, index, number, text in merged:
        source = files[index].name
        try:
            kind, symbol, stream, offset, _ = binance_frames.classify_combined(text, futures)
        except ValueError as exc:
            problems.add(source, number, str(exc))
            continue
        recording.frames.append(RecordedFrame(ts_ns, text, sys.intern(kind), sys.intern(symbol), sys.intern(stream),
                                              source, number, -1, offset))


def _attach_snapshots(rest, recording: Recording, problems: _Problems) -> None:
    stamps = [frame.ts_ns for frame in recording.frames]
    for ts_ns, url, text, source, number in rest:
        if not urlsplit(url).path.endswith("/depth"):
            continue
        symbol = (parse_qs(urlsplit(url).query).get("symbol") or [None])[0]
        try:
            if not symbol:
                raise ValueError(f"depth URL {url!r} names no symbol")
            body = binance_frames.parse_snapshot(text, symbol)
        except ValueError as exc:
            problems.add(source, number, str(exc))
            continue
        position = next((i for i, stamp in enumerate(stamps) if stamp > ts_ns), len(stamps))
        recording.snapshots[symbol] = binance_frames.make_snapshot(body, symbol, ts_ns, text, source, number, position, url)


def _classify_kraken(merged, files, recording: Recording, problems: _Problems) -> None:
    for ts_ns, index, number, text in merged:
        source = files[index].name
        try:
            kind, pair, channel, channel_id, message = kraken_frames.classify(text)
        except ValueError as exc:
            problems.add(source, number, str(exc))
            continue
        if kind == SUBSCRIPTION_STATUS and message.get("status") == "subscribed":
            recording.channel_ids[(message.get("channelName", ""), message.get("pair", ""))] = message.get("channelID", -1)
        elif channel_id >= 0:
            recording.channel_ids.setdefault((channel, pair), channel_id)
        recording.frames.append(RecordedFrame(ts_ns, text, sys.intern(kind), sys.intern(pair), sys.intern(channel),
                                              source, number, channel_id, 0))


def load_recording(*paths: str | os.PathLike, exchange: str | None = None, strict: bool = True) -> Recording:
    """Load F1 (``.gz``) or F2 files, telling the format from the file names."""
    if paths and all(str(p).endswith(".gz") for p in paths):
        return load_f1(paths, exchange=exchange, strict=strict)
    return load_f2(paths, exchange=exchange, strict=strict)


def load_reference(path: str | os.PathLike) -> ReferenceData:
    """Load a recorded exchangeInfo or AssetPairs body (F2 ``NAME.0`` or a plain JSON file).

    Raises
    ------
    RecordingError
        If the file contains no such body or the body is malformed.
    """
    path = Path(path)
    url, ts_ns, text, number = "", 0, None, 0
    for number, line in _open_lines(path):
        if line.startswith("{"):
            text = path.read_text(encoding="utf-8")
            break
        if " -> " in line:
            url, _, rest_text = line.partition(" -> ")
            stamp, _, text = rest_text.partition(": ")
            try:
                ts_ns = parse_seconds_ns(stamp)
            except ValueError as exc:
                raise RecordingError(f"Cannot load {path} line {number}: {exc}", {"path": str(path)}) from None
            break
    if text is None:
        raise RecordingError(f"Cannot load {path}: no REST body found", {"path": str(path)})
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"Cannot load {path} line {number}: body is not valid JSON ({exc})", {"path": str(path)}) from None
    if isinstance(body, dict) and isinstance(body.get("symbols"), list):
        if not all(isinstance(s, dict) and isinstance(s.get("symbol"), str) for s in body["symbols"]):
            raise RecordingError(f"Cannot load {path}: exchangeInfo contains a symbol without a 'symbol' name", {"path": str(path)})
        kind = "exchangeInfo"
        exchange = _exchange_of_url(url) or (BINANCE_USDM if "futuresType" in body else BINANCE)
    elif isinstance(body, dict) and isinstance(body.get("result"), dict) and body.get("error") == []:
        if not all(isinstance(p, dict) and isinstance(p.get("altname"), str) for p in body["result"].values()):
            raise RecordingError(f"Cannot load {path}: AssetPairs contains a pair without 'altname'", {"path": str(path)})
        kind, exchange = "AssetPairs", KRAKEN
    else:
        raise RecordingError(f"Cannot load {path}: body is neither exchangeInfo nor AssetPairs", {"path": str(path)})
    return ReferenceData(exchange=exchange, kind=kind, url=url, ts_ns=ts_ns, body=body, source=path.name)
