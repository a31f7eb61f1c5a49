import pytest

from cryptobot.core.clock import LiveClock, ReplayClock, iso_to_ns, ns_to_iso
from cryptobot.core.errors import ValidationError


def test_ns_to_iso_whole_second():
    # 2025-01-01T00:00:00Z is 1735689600 s after the epoch (20089 days * 86400).
    assert ns_to_iso(20089 * 86_400 * 10**9) == "2025-01-01T00:00:00Z"


def test_ns_to_iso_keeps_sub_second_digits():
    base = 1_735_689_600 * 10**9
    assert ns_to_iso(base + 123_000_000) == "2025-01-01T00:00:00.123Z"
    assert ns_to_iso(base + 123_456_000) == "2025-01-01T00:00:00.123456Z"
    assert ns_to_iso(base + 123_456_789) == "2025-01-01T00:00:00.123456789Z"


def test_iso_to_ns_accepts_z_and_offsets():
    assert iso_to_ns("2025-01-01T00:00:00Z") == 1_735_689_600 * 10**9
    assert iso_to_ns("2025-01-01T02:00:00+02:00") == 1_735_689_600 * 10**9
    assert iso_to_ns("2025-01-01T00:00:00.5Z") == 1_735_689_600 * 10**9 + 500_000_000


@pytest.mark.parametrize("text", ["2025-01-01T00:00:00", "yesterday", "", None])
def test_iso_to_ns_rejects_naive_and_garbage(text):
    with pytest.raises(ValidationError) as info:
        iso_to_ns(text, field="start")
    assert "start" in info.value.details


def test_replay_clock_moves_forward_only():
    clock = ReplayClock(100)
    clock.set(150)
    clock.advance(10)
    assert clock.now_ns() == 160
    with pytest.raises(ValueError, match="backwards from 160 to 159"):
        clock.set(159)


def test_live_clock_is_nanoseconds_since_epoch():
    # 2020-01-01 and 2100-01-01 bound any plausible machine clock.
    assert 1_577_836_800 * 10**9 < LiveClock().now_ns() < 4_102_444_800 * 10**9
