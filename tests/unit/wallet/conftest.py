"""A ledger on the test database with a manual clock and a crash seam."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.money import Money, make_money


@pytest.fixture
async def money(database: Any) -> Money:
    return await make_money(database)
