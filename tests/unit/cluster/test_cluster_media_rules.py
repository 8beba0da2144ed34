"""ClusterMedia's rules against our own seams (a recording SFU and an in-memory registry): one attach per node
however many viewers arrive at once, full nodes name the least-loaded node, a registry outage never refuses a
viewer. The real media path is tested with three nodes in tests/integration/test_cluster_media.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cluster.errors import ClusterFullError, NodeFullError
from cluster.media import ClusterMedia
from cluster.models import NodeLoad, Origin
from cluster.placement import StreamListener
from sfu import PublisherStopped, RelayStopped, SfuSettings, StreamNotLiveError, ViewerConnected
from tests.support.waiting import until


class RecordingSfu:
    def __init__(self) -> None:
        self.settings = SfuSettings()
        self.live: set[str] = set()
        self.attached: list[str] = []
        self.subscribed = 0
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    async def connect(self, stream_id: str, session_id: str) -> None:
        """The viewer's peer connection completed ICE and DTLS (what the real SFU reports)."""
        for listener in self.listeners:
            await listener(ViewerConnected(stream_id, session_id, None))

    def is_live(self, stream_id: str) -> bool:
        return stream_id in self.live

    def has_publisher(self, stream_id: str) -> bool:
        return False

    def has_relay(self, stream_id: str) -> bool:
        return stream_id in self.live

    async def attach_relay(self, stream_id: str, offer: str, app_data: Any = None) -> str:
        await asyncio.sleep(0.01)  # a real attach opens a socket: other viewers arrive meanwhile
        self.attached.append(offer)
        self.live.add(stream_id)
        return "relay-1"

    async def subscribe(
        self, stream_id: str, offer_sdp: str, app_data: Any = None, pending_keys: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        if stream_id not in self.live:
            raise StreamNotLiveError("not live")
        self.subscribed += 1
        session_id = f"session-{self.subscribed}"
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.connect(stream_id, session_id)))
        return session_id, "answer"

    def stats(self) -> dict[str, Any]:
        return {"streams": len(self.live), "routers": []}


class MemoryPlacement:
    node_id = "a"

    def __init__(self, others: list[NodeLoad], origin: Origin | None, *, counts_fail: bool = False) -> None:
        self.others = others
        self._origin = origin
        self.counts_fail = counts_fail

    def on_ended(self, listener: StreamListener) -> None: ...

    def on_origin_moved(self, listener: StreamListener) -> None: ...

    async def origin(self, stream_id: str) -> Origin | None:
        return self._origin

    async def nodes(self) -> list[NodeLoad]:
        return self.others

    async def stream_viewers(self, stream_id: str) -> int:
        if self.counts_fail:
            raise ConnectionError("redis is away")
        return 0


class Pipes:
    def __init__(self) -> None:
        self.opened = 0

    async def open_pipe(self, origin: Origin) -> str:
        self.opened += 1
        return f"offer-{self.opened}"


def _media(placement: MemoryPlacement, capacity: int = 10) -> tuple[ClusterMedia, RecordingSfu, Pipes]:
    sfu, pipes = RecordingSfu(), Pipes()
    media = ClusterMedia(
        sfu,  # type: ignore[arg-type]
        placement,  # type: ignore[arg-type]
        pipes,
        node_id="a",
        url="http://a",
        node_capacity=capacity,
        max_viewers_per_stream=100,
    )
    return media, sfu, pipes


ORIGIN = Origin("s1", "b", "http://b", 1)


async def test_viewers_arriving_together_on_an_edge_make_one_pipe_from_the_origin() -> None:
    media, sfu, pipes = _media(MemoryPlacement([], ORIGIN))
    await asyncio.gather(*(media.subscribe("s1", "offer") for _ in range(5)))
    await asyncio.sleep(0.01)
    assert pipes.opened == 1 and sfu.attached == ["offer-1"] and sfu.subscribed == 5
    assert dict(media.load().stream_viewers) == {"s1": 5}


async def test_a_full_node_names_the_least_loaded_node_with_room_and_says_when_none_has() -> None:
    others = [NodeLoad("b", "http://b", viewers=9, capacity=10), NodeLoad("c", "http://c", viewers=1, capacity=10)]
    media, _sfu, _pipes = _media(MemoryPlacement(others, ORIGIN), capacity=1)
    await media.subscribe("s1", "offer")
    await asyncio.sleep(0.01)
    with pytest.raises(NodeFullError) as full:
        await media.subscribe("s1", "offer")
    assert (full.value.url, full.value.to_dict()["url"]) == ("http://c", "http://c")
    media.placement.others = [NodeLoad("b", "http://b", viewers=10, capacity=10)]  # type: ignore[attr-defined]
    with pytest.raises(ClusterFullError):
        await media.subscribe("s1", "offer")


async def test_a_registry_outage_counts_this_node_alone_and_still_serves_the_viewer() -> None:
    media, sfu, _pipes = _media(MemoryPlacement([], ORIGIN, counts_fail=True))
    await media.subscribe("s1", "offer")
    assert sfu.subscribed == 1


async def test_a_stream_live_nowhere_is_answered_by_the_local_sfu() -> None:
    media, sfu, pipes = _media(MemoryPlacement([], None))
    with pytest.raises(StreamNotLiveError):
        await media.subscribe("s1", "offer")
    assert pipes.opened == 0 and sfu.attached == []


def _heard(media: ClusterMedia) -> list[Any]:
    heard: list[Any] = []

    async def hear(event: Any) -> None:
        heard.append(event)

    media.add_listener(hear)
    return heard


async def _relay_stops(sfu: RecordingSfu, reason: str) -> None:
    for listener in sfu.listeners:
        await listener(RelayStopped("s1", "relay-1", None, reason))


async def test_an_edge_whose_origin_stays_away_past_the_grace_reports_the_publisher_gone() -> None:
    media, sfu, _pipes = _media(MemoryPlacement([], None))
    media.settings = SfuSettings(reconnect_grace_s=0.2)
    heard = _heard(media)
    sfu.live.add("s1")
    await _relay_stops(sfu, "origin_silent")
    assert await until(lambda: any(isinstance(e, PublisherStopped) for e in heard), 3)
    assert [e.reason for e in heard if isinstance(e, PublisherStopped)] == ["origin_gone"]


async def test_a_stopping_edge_nodes_own_relay_stopping_never_reports_the_publisher_gone() -> None:
    """The node's shutdown closes its relay copies; that is not the origin going away (it once ended the stream for
    every node while its publisher was still sending)."""
    media, sfu, _pipes = _media(MemoryPlacement([], None))
    media.settings = SfuSettings(reconnect_grace_s=0.2)
    heard = _heard(media)
    sfu.live.add("s1")
    await _relay_stops(sfu, "origin_silent")  # a re-pipe is waiting for the origin when the node starts stopping
    await media.drain()
    await _relay_stops(sfu, "shutdown")
    sfu.live.discard("s1")
    await asyncio.sleep(0.5)
    assert not [e for e in heard if isinstance(e, PublisherStopped)]
