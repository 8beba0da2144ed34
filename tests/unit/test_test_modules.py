"""The test tree's own layout: pytest imports test modules by their file name (the test folders are not packages),
so two test files with one name anywhere under tests/ stop the whole run at collection. Running one folder alone
(``pytest tests/unit``) does not show it; this test does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_files_share_a_file_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if "node_modules" not in path.parts)
    assert [name for name, count in names.items() if count > 1] == []
