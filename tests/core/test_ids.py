import re

import pytest

from cryptobot.core.errors import ValidationError
from cryptobot.core.ids import check_id, is_id, new_id


def test_new_id_has_prefix_and_26_character_body():
    value = new_id("order")
    assert re.fullmatch(r"order_[0-9a-hjkmnp-tv-z]{26}", value)


def test_new_id_sorts_by_creation_time():
    earlier = new_id("strategy", now_ms=1_700_000_000_000)
    later = new_id("strategy", now_ms=1_700_000_000_001)
    assert earlier < later


def test_new_id_is_unique_across_many_calls():
    ids = {new_id("key", now_ms=1) for _ in range(10_000)}
    assert len(ids) == 10_000


def test_new_id_rejects_unknown_prefix():
    with pytest.raises(ValueError, match="unknown id prefix 'bogus'"):
        new_id("bogus")


@pytest.mark.parametrize("value", ["order_", "order_0123456789abcdefghjkmnpqr", "strategy_0123456789abcdefghjkmnpqrs",
                                   "order_0123456789abcdefghjkmnpqri", None, 42, "ORDER_0123456789abcdefghjkmnpqrs"])
def test_is_id_rejects_malformed(value):
    assert not is_id(value, "order")


def test_check_id_names_field():
    with pytest.raises(ValidationError, match="'strategy_id' must be an id") as info:
        check_id("strategy_1", "strategy", "strategy_id")
    assert info.value.details == {"strategy_id": "expected a strategy id"}


def test_new_id_body_is_crockford_base32_of_time_and_random_bits():
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

    def plain_encode(value, length):
        digits = []
        for _ in range(length):
            digits.append(alphabet[value & 31])
            value >>= 5
        return "".join(reversed(digits))

    for ms, low in [(0, 0), (1, 1), (1_733_000_000_000, 12_345), (2**48 - 1, 2**80 - 1)]:
        assert new_id("order", now_ms=ms, low_bits=low) == "order_" + plain_encode(ms << 80 | low, 26)
