"""A Chromium broadcaster behind a capped uplink backs off to fit the cap, from the hub's transport-cc feedback alone
(issue 13, "backs off on a constrained one"): it publishes 640x360 toward 1.5 Mbit/s; then its path to the hub is capped
(``tc`` htb on ``lo`` in a network namespace of the test's own, on the SFU's UDP port of that session, a ~100 ms byte
FIFO) and within a few seconds what it sends, and what arrives at the hub, drops under the cap. Lifting the cap lets it
climb again. Needs root (``unshare -n``); the outer test runs the scenario in the namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shaping import can_shape, run_scenario, scenario_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCENARIO = Path(__file__).with_name("uplink_cap_scenario.py")


def test_a_broadcaster_behind_a_capped_uplink_backs_off_to_fit_it_in_a_namespace() -> None:
    if not can_shape():
        pytest.skip("needs root with unshare, ip and tc (a loopback-only network namespace)")
    result = run_scenario(f"{SCENARIO}::test_uplink_cap_scenario", timeout=300)
    print(result.stdout[-5000:], result.stderr[-3000:])
    assert result.returncode == 0, scenario_report(result.stdout)
    assert "1 passed" in result.stdout
