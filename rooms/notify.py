"""How rooms tells people about things: a seam implemented by the Socket.IO edge (``signaling.fanout``).

``rooms`` never imports the edge; ``hub`` wires an implementation in. ``NullNotifier`` keeps services usable alone.
"""

from __future__ import annotations

from typing import Any, Protocol


class RoomNotifier(Protocol):
    async def to_room(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        """Everyone in the stream's room, on every node."""

    async def to_room_local(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        """Only the room's members connected to this node (for figures every node computes itself)."""

    async def to_moderators(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        """The room's moderators (owner, room moderators, staff in the room), on every node."""

    async def to_user(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        """Every connection of one user, on every node."""

    async def chat(self, stream_id: str, message: dict[str, Any]) -> None:
        """A chat message to the room; may be batched with others (order kept)."""


class NullNotifier:
    async def to_room(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        return None

    async def to_room_local(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        return None

    async def to_moderators(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        return None

    async def to_user(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        return None

    async def chat(self, stream_id: str, message: dict[str, Any]) -> None:
        return None
