"""Columnar tick buffers and the Arrow batches they seal into.

A buffer keeps preallocated numpy arrays, one per column, and a fill count.
Appending a tick writes a few array slots; appending a columnar chunk is one
slice copy per column.  Sealing hands the filled arrays to an Arrow table
without copying them and puts fresh arrays in their place, so a sealed batch
is never written to again.

Exchange and symbol names are stored as small integer codes into a
:class:`NameTable`; Arrow dictionary columns carry them to ClickHouse's
``LowCardinality(String)`` columns.  Sides are int8 codes: 1 buy and 2 sell
for trades (the aggressor), 1 bid and 2 ask for book levels, the values of
the ``Enum8`` columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cryptobot.core.errors import ValidationError
from cryptobot.core.types import ASK, BID, BUY, SELL
from cryptobot.storage.clickhouse import arrow_names, arrow_timestamps

SIDE_BUY = 1
SIDE_SELL = 2
SIDE_BID = 1
SIDE_ASK = 2

TRADE_SIDES = {BUY: SIDE_BUY, SELL: SIDE_SELL}
BOOK_SIDES = {BID: SIDE_BID, ASK: SIDE_ASK}

TRADE_COLUMNS = {
    "ts_event": np.int64,
    "ts_recv": np.int64,
    "price": np.float64,
    "quantity": np.float64,
    "side": np.int8,
    "trade_id": np.int64,
}

DELTA_COLUMNS = {
    "ts_event": np.int64,
    "ts_recv": np.int64,
    "first_id": np.int64,
    "last_id": np.int64,
    "prev_id": np.int64,
    "side": np.int8,
    "price": np.float64,
    "size": np.float64,
    "ordinal": np.uint32,
    "checksum": np.int64,
}

_TIME_COLUMNS = ("ts_event", "ts_recv")


@dataclass(slots=True)
class Batch:
    """Rows of one table sealed for one insert; ``token`` deduplicates retries."""

    table: str
    token: str
    data: pa.Table
    created_ns: int = 0

    @property
    def rows(self) -> int:
        return self.data.num_rows


class NameTable:
    """Interns exchange or symbol names as int16 codes, in order of first use."""

    __slots__ = ("names", "_codes")

    def __init__(self):
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            if not isinstance(name, str) or not name:
                raise ValidationError(f"exchange and symbol names must be non-empty strings, was {name!r}")
            if len(self.names) >= 32_767:
                raise ValidationError("Cannot record more than 32767 distinct exchange or symbol names")
            code = len(self.names)
            self.names.append(name)
            self._codes[name] = code
        return code


def to_arrow(columns: dict[str, np.ndarray], exchange: pa.Array, symbol: pa.Array) -> pa.Table:
    """Build the Arrow table of a tick table from numpy columns, without copying them."""
    arrays = {"exchange": exchange, "symbol": symbol}
    for name, values in columns.items():
        arrays[name] = arrow_timestamps(values) if name in _TIME_COLUMNS else pa.array(values)
    return pa.table(arrays)


class ColumnBuffer:
    """Preallocated columns of one tick table plus exchange and symbol codes.

    Parameters
    ----------
    columns
        Column name to numpy dtype, in table order.
    capacity
        Rows held before the buffer must be sealed.
    """

    def __init__(self, columns: dict[str, type], capacity: int):
        if capacity < 1:
            raise ValueError(f"'capacity' out of range [1, inf), was {capacity}")
        self.dtypes = columns
        self.capacity = capacity
        self.size = 0
        self.first_ns = 0
        self._allocate()

    def _allocate(self) -> None:
        self.exchange = np.empty(self.capacity, dtype=np.int16)
        self.symbol = np.empty(self.capacity, dtype=np.int16)
        self.arrays = {name: np.empty(self.capacity, dtype=dtype) for name, dtype in self.dtypes.items()}
        # Memoryviews of the same buffers, in column order, for one-row writes:
        # storing a Python scalar through one is about twice as fast as numpy
        # item assignment.
        self.row_views = (memoryview(self.exchange), memoryview(self.symbol),
                          *(memoryview(values) for values in self.arrays.values()))

    @property
    def free(self) -> int:
        return self.capacity - self.size

    def append_columns(self, exchange_code: int, symbol_code: int, columns: dict[str, np.ndarray],
                       start: int, stop: int) -> int:
        """Copy rows ``start:stop`` of ``columns`` into the buffer; return how many fit."""
        count = min(stop - start, self.free)
        end = self.size + count
        self.exchange[self.size:end] = exchange_code
        self.symbol[self.size:end] = symbol_code
        for name, target in self.arrays.items():
            target[self.size:end] = columns[name][start:start + count]
        self.size = end
        return count

    def seal(self, exchanges: NameTable, symbols: NameTable) -> pa.Table:
        """Return the filled rows as an Arrow table and start over with fresh arrays."""
        n = self.size
        columns = {name: values[:n] for name, values in self.arrays.items()}
        table = to_arrow(columns, arrow_names(self.exchange[:n], list(exchanges.names)),
                         arrow_names(self.symbol[:n], list(symbols.names)))
        self.size = 0
        self.first_ns = 0
        self._allocate()
        return table


class SnapshotBuffer:
    """Book snapshots kept as rows (they are rare), sealed into Arrow list columns."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.first_ns = 0

    @property
    def size(self) -> int:
        return len(self.rows)

    def append(self, exchange: str, symbol: str, ts_event: int, ts_recv: int, sequence: int,
               bids: np.ndarray, asks: np.ndarray) -> None:
        self.rows.append((exchange, symbol, int(ts_event), int(ts_recv), int(sequence),
                          np.array(bids, dtype=np.float64).reshape(-1, 2),
                          np.array(asks, dtype=np.float64).reshape(-1, 2)))

    def seal(self) -> pa.Table:
        rows, self.rows = self.rows, []
        self.first_ns = 0
        return snapshots_to_arrow(rows)


def _list_column(levels: list[np.ndarray], column: int) -> pa.Array:
    lengths = np.array([len(side) for side in levels], dtype=np.int32)
    offsets = np.zeros(len(levels) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate([side[:, column] for side in levels]) if levels else np.empty(0)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.float64()))


def snapshots_to_arrow(rows: list[tuple]) -> pa.Table:
    """Build the ``book_snapshots`` Arrow table from (exchange, symbol, ts_event, ts_recv, sequence, bids, asks) rows."""
    exchanges, symbols = NameTable(), NameTable()
    exchange_codes = np.array([exchanges.code(row[0]) for row in rows], dtype=np.int16)
    symbol_codes = np.array([symbols.code(row[1]) for row in rows], dtype=np.int16)
    bids = [row[5] for row in rows]
    asks = [row[6] for row in rows]
    return pa.table({
        "exchange": arrow_names(exchange_codes, exchanges.names),
        "symbol": arrow_names(symbol_codes, symbols.names),
        "ts_event": arrow_timestamps(np.array([row[2] for row in rows], dtype=np.int64)),
        "ts_recv": arrow_timestamps(np.array([row[3] for row in rows], dtype=np.int64)),
        "sequence": pa.array(np.array([row[4] for row in rows], dtype=np.int64)),
        "bid_price": _list_column(bids, 0),
        "bid_size": _list_column(bids, 1),
        "ask_price": _list_column(asks, 0),
        "ask_size": _list_column(asks, 1),
    })


def side_codes(values, sides: dict[str, int], field: str = "side") -> np.ndarray:
    """Return int8 side codes from codes or side names; raise ValidationError on any other value."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        codes = array.astype(np.int8, copy=False)
    else:
        codes = np.zeros(len(array), dtype=np.int8)
        for name, code in sides.items():
            codes[array == name] = code
    bad = np.flatnonzero((codes != 1) & (codes != 2))
    if len(bad):
        allowed = ", ".join(f"{code} ({name})" for name, code in sides.items())
        raise ValidationError(f"'{field}' must be one of {allowed}, was {array[bad[0]]!r} at row {int(bad[0])}",
                              {field: "invalid side"})
    return codes


def check_columns(columns: dict[str, np.ndarray], dtypes: dict[str, type]) -> tuple[dict[str, np.ndarray], int]:
    """Cast ``columns`` to ``dtypes`` and check they have one length; return them and that length."""
    missing = [name for name in dtypes if name not in columns]
    if missing:
        raise ValidationError(f"missing columns: {', '.join(missing)}", {name: "missing" for name in missing})
    cast = {name: np.asarray(columns[name], dtype=dtype) for name, dtype in dtypes.items()}
    lengths = {name: len(values) for name, values in cast.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(f"columns must have one length, were {lengths}")
    length = next(iter(lengths.values()), 0)
    for name in ("price", "quantity", "size"):
        if name in cast and length and not np.isfinite(cast[name]).all():
            row = int(np.flatnonzero(~np.isfinite(cast[name]))[0])
            raise ValidationError(f"'{name}' must be finite, was {cast[name][row]} at row {row}", {name: "not finite"})
    return cast, length


@dataclass
class Counters:
    """Recorder state for monitoring; rows are counted per tick or book level."""

    buffered: int = 0
    spilled: int = 0
    spill_pending: int = 0
    written: int = 0
    batches_written: int = 0
    retries: int = 0
    corrupt_spill_blocks: int = 0
    last_error: str = ""
    last_error_ns: int = 0
    by_table: dict = field(default_factory=dict)
