"""The loyalty package's parts on this test's database, with a manual clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.points import Points, make_points


@pytest.fixture
async def points(database: Any) -> Points:
    return await make_points(database)
