"""The track an SFU sender carries: it never yields a frame, so aiortc never creates an encoder for it.

aiortc's sender loop awaits ``track.recv()``; with no track at all it would poll every 20 ms instead.
"""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame


class ForwardedTrack(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Frame:
        await asyncio.shield(self._stopped)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._stopped.done():
            self._stopped.set_result(None)
        super().stop()
