from __future__ import annotations

from typing import Any

import pytest

from signaling.events import EventContext, EventRegistry, registry


def test_every_client_event_of_the_contract_has_a_handler() -> None:
    from signaling import handlers

    handlers.load()
    for name in (
        "stream:join",
        "stream:leave",
        "chat:send",
        "like:send",
        "mod:action",
        "report:send",
        "rtc:publish",
        "rtc:subscribe",
        "rtc:close",
    ):
        assert registry.get(name) is not None, name


def test_an_event_cannot_get_two_handlers() -> None:
    reg = EventRegistry()

    @reg.handler("x:y")
    async def first(ctx: EventContext, body: Any) -> None:
        return None

    with pytest.raises(ValueError, match="already has a handler"):

        @reg.handler("x:y")
        async def second(ctx: EventContext, body: Any) -> None:
            return None
