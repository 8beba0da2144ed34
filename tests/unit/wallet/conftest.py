"""A ledger on the test database with a manual clock and a crash seam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.money import Money, make_money


@pytest.fixture
async def money(mongo_client: Any, db_name: str) -> AsyncIterator[Money]:
    yield await make_money(mongo_client[db_name])
    await mongo_client.drop_database(db_name)
