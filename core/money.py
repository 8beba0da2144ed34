"""Money amounts. Integers only: coins and beans are counted, never measured."""

from __future__ import annotations

from typing import NewType

Coins = NewType("Coins", int)
Beans = NewType("Beans", int)


def require_amount(value: object, *, allow_zero: bool = False) -> int:
    """Return ``value`` if it is a plain, non-negative integer amount; raise ``ValueError`` otherwise.

    ``bool`` is refused although it is an ``int`` subclass, and so is every float.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"amount must be an integer, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"amount must be positive, got {value}")
    return value
