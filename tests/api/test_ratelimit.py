import pytest

from cryptobot.api.ratelimit import ClientAddress, SlidingWindowLimiter


class FakeTime:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_allows_limit_then_rejects_with_retry_after():
    clock = FakeTime(1000.0)
    limiter = SlidingWindowLimiter(3, 60, clock)
    verdicts = [limiter.hit("ip") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].retry_after == 20  # window started at 960; resets at 1020
    assert verdicts[3].reset == 1020


def test_previous_window_weighs_by_overlap():
    clock = FakeTime(0.0)
    limiter = SlidingWindowLimiter(10, 60, clock)
    for _ in range(10):
        assert limiter.hit("k").allowed
    clock.now = 90.0  # halfway into the next window: 10 * 0.5 = 5 still count
    allowed = sum(limiter.hit("k").allowed for _ in range(10))
    assert allowed == 5


def test_keys_are_independent():
    limiter = SlidingWindowLimiter(1, 60, FakeTime(0.0))
    assert limiter.hit("a").allowed
    assert limiter.hit("b").allowed
    assert not limiter.hit("a").allowed


def test_forwarded_for_ignored_from_untrusted_peer():
    resolver = ClientAddress("")
    assert resolver.resolve("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_forwarded_for_rightmost_untrusted_hop():
    resolver = ClientAddress("10.0.0.0/8, 127.0.0.1")
    assert resolver.resolve("127.0.0.1", "198.51.100.7, 10.1.2.3") == "198.51.100.7"
    assert resolver.resolve("127.0.0.1", "garbage") == "127.0.0.1"


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="'limit' must be >= 1, was 0"):
        SlidingWindowLimiter(0, 60)
