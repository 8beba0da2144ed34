"""Closed sessions are remembered for a late DELETE, bounded in count and age, publishers apart from viewers."""

from __future__ import annotations

import pytest

from sfu import service as service_module
from sfu.errors import SessionNotFoundError
from sfu.service import SfuService
from sfu.session import PUBLISHER, VIEWER, EndedSession
from sfu.settings import SfuSettings


def ended(session_id: str, role: str, at: float) -> EndedSession:
    return EndedSession(session_id, "stream-" + session_id, role, "connection_closed", False, at)


def test_a_flood_of_closed_viewer_sessions_does_not_push_out_a_closed_publisher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_module, "ENDED_SESSIONS_KEPT", 10)
    sfu = SfuService(SfuSettings())
    sfu._remember(ended("pub", PUBLISHER, 100.0))
    for i in range(50):
        sfu._remember(ended(f"v{i}", VIEWER, 100.0 + i))
    assert sfu.session_stream("pub") == "stream-pub"
    assert sfu.session_stream("v49") == "stream-v49"
    with pytest.raises(SessionNotFoundError):
        sfu.session_stream("v0")  # the oldest viewers went first


def test_closed_sessions_are_forgotten_after_the_ttl_but_not_before_twice_the_grace() -> None:
    sfu = SfuService(SfuSettings(reconnect_grace_s=900.0))
    sfu._remember(ended("old", PUBLISHER, 0.0))
    sfu._remember(ended("new", PUBLISHER, 1700.0))  # 1700 s later: still within 2 × 900 s
    assert sfu.session_stream("old") == "stream-old"
    sfu._remember(ended("newer", PUBLISHER, 1900.0))
    with pytest.raises(SessionNotFoundError):
        sfu.session_stream("old")
