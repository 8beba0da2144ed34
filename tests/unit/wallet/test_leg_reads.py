"""Legs read back from transfer documents (``Leg.from_doc``): the same values as written, one instance per distinct
leg (they recur in every transfer), in a bounded table."""

from __future__ import annotations

import pytest

from wallet import models
from wallet.accounts import Currency
from wallet.models import Leg


def test_a_leg_read_back_is_the_leg_written_and_a_recurring_one_is_shared() -> None:
    written = [
        Leg("sys:coins:gift_revenue", Currency.COINS, 5),
        Leg("user:a:coins", Currency.COINS, -5, force=True),
        Leg("user:a:coins", Currency.COINS, -5),
        Leg("sys:beans:issuer", Currency.BEANS, -50),
    ]
    read = [Leg.from_doc(leg.to_doc()) for leg in written]
    assert read == written
    assert [leg.force for leg in read] == [False, True, False, False]
    again = [Leg.from_doc(leg.to_doc()) for leg in written]
    assert all(a is b for a, b in zip(read, again, strict=True))
    assert Leg.from_doc({"account": "x", "currency": "coins", "amount": 7.0}).amount == 7  # as stored by a server
    with pytest.raises(ValueError):
        Leg.from_doc({"account": "x", "currency": "coins", "amount": 0})
    with pytest.raises(ValueError):
        Leg.from_doc({"account": "x", "currency": "gold", "amount": 1})


def test_the_table_of_read_legs_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_LEGS_KEPT", 10)
    monkeypatch.setattr(models, "_LEGS", {})
    for i in range(1, 35):
        assert Leg.from_doc({"account": f"user:{i}:coins", "currency": "coins", "amount": i}).amount == i
    assert 0 < len(models._LEGS) <= 10
