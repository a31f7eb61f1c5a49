import random

import pytest

from cryptobot.core.metrics import Histogram


def test_percentiles_within_bucket_error():
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(8, 1.5)) for _ in range(20_000))
    hist = Histogram()
    for v in values:
        hist.record(v)
    for p in (50, 90, 99):
        exact = values[max(0, -(-len(values) * p // 100) - 1)]
        # Buckets are 1/8 of a power of two wide: at most 12.5 % off.
        assert abs(hist.percentile(p) - exact) <= exact * 0.125 + 1


def test_small_values_are_exact():
    hist = Histogram()
    for v in (1, 2, 3, 4, 5, 6, 7):
        hist.record(v)
    assert hist.percentile(50) == 4
    assert hist.max == 7


def test_empty_histogram_reports_zero():
    assert Histogram().percentile(99) == 0


def test_percentile_range_is_checked():
    with pytest.raises(ValueError, match=r"'p' out of range \[0, 100\], was 101"):
        Histogram().percentile(101)
