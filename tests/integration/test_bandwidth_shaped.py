"""Viewers on shaped links get the layer their link carries (transport-cc estimate per viewer, ``sfu/bwe.py``).

The scenario (``shaped_scenario.py``, not collected on its own: it shapes ``lo`` and must run in a network namespace
of its own) is run here under ``unshare -n``: headless Chromium publishes three simulcast layers over WHIP; three
Chromium viewers sit behind different caps (``tc`` htb per viewer UDP port); each settles on a different layer and
keeps decoding without a freeze over 1 s; lifting a cap moves that viewer up; an aiortc viewer asking for Low gets
Low. Needs root with ``unshare``, ``ip`` and ``tc``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shaping import can_shape, run_scenario, scenario_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCENARIO = Path(__file__).with_name("shaped_scenario.py")


def test_viewers_behind_different_caps_settle_on_different_layers_in_a_namespace() -> None:
    if not can_shape():
        pytest.skip("needs root with unshare, ip and tc (a loopback-only network namespace)")
    result = run_scenario(f"{SCENARIO}::test_shaped_scenario", timeout=400)
    print(result.stdout[-30000:], result.stderr[-3000:])
    assert result.returncode == 0, scenario_report(result.stdout)
    assert "1 passed" in result.stdout
