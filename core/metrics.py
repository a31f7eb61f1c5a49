"""Counters and latency histograms cheap enough to update on every message.

:class:`Histogram` keeps log-linear buckets: 8 sub-buckets per power of two,
so any percentile it reports is within 12.5 % of the true value, and
recording is a few integer operations with no allocation.
"""

from __future__ import annotations

_SUB_BITS = 3
_SUB_COUNT = 1 << _SUB_BITS
# Values up to 2**62 ns (about 146 years) fit; larger ones land in the last bucket.
_BUCKETS = (62 - _SUB_BITS + 1) * _SUB_COUNT + _SUB_COUNT


def _bucket_index(value: int) -> int:
    if value < _SUB_COUNT:
        return value if value > 0 else 0
    bits = value.bit_length()
    shift = bits - _SUB_BITS - 1
    # The top SUB_BITS+1 bits of the value: 8..15, i.e. 1.000b..1.111b times 2**shift.
    index = (shift + 1) * _SUB_COUNT + (value >> shift) - _SUB_COUNT
    return index if index < _BUCKETS else _BUCKETS - 1


def _bucket_lower(index: int) -> int:
    if index < _SUB_COUNT:
        return index
    shift = index // _SUB_COUNT - 1
    return (_SUB_COUNT + index % _SUB_COUNT) << shift


class Histogram:
    """Latency histogram in nanoseconds with percentile queries.

    Runtime complexity: ``record`` O(1); ``percentile`` O(number of buckets).
    """

    __slots__ = ("_counts", "count", "total", "max")

    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, value_ns: int) -> None:
        """Add one observation (negative values count as 0)."""
        if value_ns < _SUB_COUNT:
            index = value_ns if value_ns > 0 else 0
            if value_ns < 0:
                value_ns = 0
        else:
            # _bucket_index, inlined: this runs on every actor message.
            shift = value_ns.bit_length() - _SUB_BITS - 1
            index = (shift + 1) * _SUB_COUNT + (value_ns >> shift) - _SUB_COUNT
            if index >= _BUCKETS:
                index = _BUCKETS - 1
        self._counts[index] += 1
        self.count += 1
        self.total += value_ns
        if value_ns > self.max:
            self.max = value_ns

    def percentile(self, p: float) -> int:
        """Return the value at percentile ``p`` (0-100), as the midpoint of its bucket; 0 when empty."""
        if not 0 <= p <= 100:
            raise ValueError(f"'p' out of range [0, 100], was {p}")
        if self.count == 0:
            return 0
        rank = max(1, -(-self.count * p // 100))
        seen = 0
        for index, bucket_count in enumerate(self._counts):
            seen += bucket_count
            if seen >= rank:
                low = _bucket_lower(index)
                high = _bucket_lower(index + 1) if index + 1 < _BUCKETS else low
                return min((low + high) // 2, self.max)
        return self.max

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def snapshot(self) -> dict[str, float]:
        """Return count, mean, p50, p99 and max, all in nanoseconds."""
        return {
            "count": self.count,
            "mean_ns": round(self.mean, 1),
            "p50_ns": self.percentile(50),
            "p99_ns": self.percentile(99),
            "max_ns": self.max,
        }

    def reset(self) -> None:
        self._counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.max = 0
