"""A listener that keeps every event an ``SfuService`` emits, for tests to look through."""

from __future__ import annotations

from typing import Any

from sfu import SfuEvent


class SfuEvents:
    def __init__(self) -> None:
        self.events: list[SfuEvent] = []

    async def __call__(self, event: SfuEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[SfuEvent]) -> list[Any]:
        """The events of one kind, in the order they came."""
        return [e for e in self.events if isinstance(e, kind)]
