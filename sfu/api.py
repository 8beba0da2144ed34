"""The SFU as the edges see it: one protocol, served in-process (``SfuService``) or by worker processes
(``SfuWorkerPool``), chosen at wiring time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sfu.events import SfuEvent
from sfu.settings import SfuSettings
from sfu.thumbnail import KeyframeSnapshot


class Sfu(Protocol):
    settings: SfuSettings

    def add_listener(self, listener: Callable[[SfuEvent], Awaitable[None]]) -> None: ...

    def is_live(self, stream_id: str) -> bool: ...

    def has_publisher(self, stream_id: str) -> bool: ...

    def has_relay(self, stream_id: str) -> bool: ...

    async def publish(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]: ...

    async def subscribe(
        self, stream_id: str, offer_sdp: str, app_data: Any = None, pending_keys: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        """``pending_keys``: opaque client keys (an address, a socket); each may have at most
        ``max_pending_per_client`` viewer sessions still connecting."""
        ...

    async def close_session(self, session_id: str) -> None: ...

    async def trickle(self, session_id: str, fragment: str) -> int: ...

    async def set_layer(self, session_id: str, preference: str, screen: tuple[int, int] | None = None) -> str | None:
        """A viewer's simulcast layer preference (auto/high/medium/low) and, for auto, its screen size."""
        ...

    async def keyframe(self, stream_id: str, min_width: int = 0) -> KeyframeSnapshot | None:
        """The latest complete keyframe picture of the stream's video when its publisher is on this node (None on a
        node or worker that relays it, or while no complete keyframe is cached): for thumbnails, decoded elsewhere."""
        ...

    async def set_ladder(self, stream_id: str, enabled: bool) -> bool:
        """Start or stop the stream's transcoded ladder on the node holding its publisher; whether one runs now."""
        ...

    async def drop_publisher(self, session_id: str) -> None: ...

    async def end_stream(self, stream_id: str, reason: str = "ended") -> None: ...

    async def open_origin_pipe(self, stream_id: str) -> str: ...

    async def attach_relay(self, stream_id: str, offer: str, app_data: Any = None) -> str: ...

    async def detach_relay(self, stream_id: str, reason: str = "detached") -> None: ...

    def session_stream(self, session_id: str) -> str: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
