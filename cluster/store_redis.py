"""The placement registry in Redis: node leases and heartbeats, origin leases, cluster-wide viewer counts, and the
"stream ended" channel. Keys are in ``cluster/keys.py``. Only ``hub`` wiring imports this module.

Every ``heartbeat_s`` a node writes its load with a lease of ``lease_s`` and renews the origins it holds; a node that
stops (crash, partition) vanishes from the registry when its lease runs out, and so do its origins. An origin claim
always wins (the publisher reconnected here) and carries a new epoch; the node it was taken from learns it at its
next renewal and its ``on_origin_moved`` listeners run. Redis being away never raises out of the heartbeat: the node
keeps serving what it has and re-registers when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from cluster import keys
from cluster.models import NodeLoad, Origin
from cluster.placement import LoadSource, StreamListener
from cluster.settings import DEFAULTS
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# KEYS[1] origin key; ARGV: node id, epoch, lease ms, the origin's JSON (to restore it if the key expired).
# 1 renewed, 2 restored (it had expired, e.g. Redis restarted), 0 another node holds it now.
_RENEW_ORIGIN = """
local raw = redis.call('GET', KEYS[1])
if not raw then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
  return 2
end
local o = cjson.decode(raw)
if o.node_id == ARGV[1] and tostring(o.epoch) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] origin key; ARGV: node id, epoch. Deletes the origin only if it is still this node's claim.
_RELEASE_ORIGIN = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local o = cjson.decode(raw)
if o.node_id == ARGV[1] and tostring(o.epoch) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisPlacement:
    def __init__(
        self,
        redis: Any,
        node_id: str,
        load: LoadSource,
        *,
        heartbeat_s: float = DEFAULTS.heartbeat_s,
        lease_s: float = DEFAULTS.lease_s,
        backoff_max_s: float = 2.0,
    ) -> None:
        if not 0 < heartbeat_s < lease_s:
            raise ValueError("the heartbeat must be shorter than the lease")
        self.node_id = node_id
        self._redis = redis
        self._load = load
        self.heartbeat_s = heartbeat_s
        self.lease_ms = int(lease_s * 1000)
        self._backoff_max_s = backoff_max_s
        self._held: dict[str, Origin] = {}
        self._reported: set[str] = set()  # streams whose viewer count this node has written
        self._ended_listeners: list[StreamListener] = []
        self._moved_listeners: list[StreamListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._subscribed = asyncio.Event()
        self._renew = redis.register_script(_RENEW_ORIGIN)
        self._release = redis.register_script(_RELEASE_ORIGIN)
        self.heartbeats = 0
        self.heartbeat_failures = 0

    # Lifecycle

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping = False
        with contextlib.suppress(Exception):  # Redis may be away at start; the loop keeps trying
            await self.heartbeat()
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"placement-heartbeat-{self.node_id}"),
            asyncio.create_task(self._listen_ended(), name=f"placement-ended-{self.node_id}"),
        ]
        with contextlib.suppress(TimeoutError):  # ends announced from now on reach this node
            await asyncio.wait_for(self._subscribed.wait(), 2.0)

    async def abandon(self) -> None:
        """Stop heartbeating without leaving the registry, as a node that crashed does (its leases run out)."""
        tasks, self._tasks = self._tasks, []
        self._stopping = True  # redis-py's get_message() can swallow a cancellation; the listener also checks this
        await cancel_and_wait(*tasks)  # cancels again until done: redis-py can swallow a cancellation inside a call

    async def close(self) -> None:
        await self.abandon()
        held, self._held = dict(self._held), {}
        with contextlib.suppress(Exception):
            for origin in held.values():
                await self._release(keys=[keys.origin(origin.stream_id)], args=[self.node_id, str(origin.epoch)])
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.NODES, self.node_id)
                pipe.delete(keys.node(self.node_id))
                for stream_id in self._reported:
                    pipe.hdel(keys.viewers(stream_id), self.node_id)
                await pipe.execute()

    # Origins

    async def claim_origin(self, stream_id: str, worker: int | None = None) -> Origin:
        epoch = int(await self._redis.incr(keys.epoch(stream_id)))
        origin = Origin(stream_id, self.node_id, self._load().url, epoch, worker)
        self._held[stream_id] = origin
        async with self._redis.pipeline(transaction=True) as pipe:  # one slot: the keys share the stream's tag
            pipe.expire(keys.epoch(stream_id), keys.EPOCH_TTL_S)
            pipe.set(keys.origin(stream_id), origin.to_json(), px=self.lease_ms)
            await pipe.execute()
        # Not in the transaction: a cluster refuses PUBLISH in a pipeline (it is not a key command).
        await self._redis.publish(keys.ORIGINS_CHANNEL, origin.to_json())
        return origin

    async def release_origin(self, stream_id: str) -> None:
        origin = self._held.pop(stream_id, None)
        if origin is not None:
            await self._release(keys=[keys.origin(stream_id)], args=[self.node_id, str(origin.epoch)])

    async def origin(self, stream_id: str) -> Origin | None:
        raw = await self._redis.get(keys.origin(stream_id))
        if raw is None:
            return None
        origin = Origin.from_json(raw)
        if origin.node_id != self.node_id and await self._redis.zscore(keys.NODES, origin.node_id) is None:
            return None  # its node left the registry (the origin key outlives it by at most one lease)
        return origin

    def holds(self, stream_id: str) -> bool:
        return stream_id in self._held

    # Nodes and load

    async def nodes(self) -> list[NodeLoad]:
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in await self._redis.zrangebyscore(keys.NODES, _now_ms(), "+inf")
        ]
        if not ids:
            return [self._load()]
        async with self._redis.pipeline(transaction=False) as pipe:  # not MGET: on a cluster the keys span slots
            for i in ids:
                pipe.get(keys.node(i))
            raws = await pipe.execute()
        out: list[NodeLoad] = []
        for node_id, raw in zip(ids, raws, strict=True):
            if node_id == self.node_id:
                out.append(self._load())  # this node's own figures are current, not a heartbeat old
            elif raw is not None:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    out.append(NodeLoad.from_json(raw))
        if all(n.node_id != self.node_id for n in out):
            out.append(self._load())
        return out

    async def stream_viewers(self, stream_id: str) -> int:
        counts = await self._redis.hgetall(keys.viewers(stream_id))
        alive = {
            i.decode() if isinstance(i, bytes) else str(i)
            for i in await self._redis.zrangebyscore(keys.NODES, _now_ms(), "+inf")
        }
        total = dict(self._load().stream_viewers).get(stream_id, 0)
        for node, count in counts.items():
            node_id = node.decode() if isinstance(node, bytes) else str(node)
            if node_id != self.node_id and node_id in alive:
                total += int(count)
        return total

    async def heartbeat(self) -> None:
        """Write this node's lease and load once, and renew the origins it holds."""
        load = self._load()
        now = _now_ms()
        counts = dict(load.stream_viewers)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.node(self.node_id), load.to_json(), px=self.lease_ms)
            pipe.zadd(keys.NODES, {self.node_id: now + self.lease_ms})
            pipe.zremrangebyscore(keys.NODES, "-inf", now)
            for stream_id, count in counts.items():
                pipe.hset(keys.viewers(stream_id), self.node_id, count)
                pipe.pexpire(keys.viewers(stream_id), max(self.lease_ms * 10, 60_000))
            for stream_id in self._reported - counts.keys():
                pipe.hdel(keys.viewers(stream_id), self.node_id)
            await pipe.execute()
        self._reported = set(counts)
        for stream_id, origin in list(self._held.items()):
            renewed = await self._renew(
                keys=[keys.origin(stream_id)],
                args=[self.node_id, str(origin.epoch), self.lease_ms, origin.to_json()],
            )
            if int(renewed) == 0 and self._held.get(stream_id) is origin:
                del self._held[stream_id]
                log.info("another node took the origin of stream %s over", stream_id)
                for listener in list(self._moved_listeners):
                    await self._call(listener, stream_id)
        self.heartbeats += 1

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.heartbeat_failures += 1
                log.warning("placement heartbeat failed: %s", type(exc).__name__)

    # Ended anywhere

    def on_ended(self, listener: StreamListener) -> None:
        self._ended_listeners.append(listener)

    def on_origin_moved(self, listener: StreamListener) -> None:
        self._moved_listeners.append(listener)

    async def announce_ended(self, stream_id: str) -> None:
        self._held.pop(stream_id, None)
        await self._redis.publish(keys.ENDED_CHANNEL, json.dumps({"stream_id": stream_id, "node_id": self.node_id}))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.origin(stream_id))
            pipe.delete(keys.viewers(stream_id))
            await pipe.execute()

    async def _listen_ended(self) -> None:
        backoff = 0.1
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.ENDED_CHANNEL, keys.ORIGINS_CHANNEL)
                self._subscribed.set()
                backoff = 0.1
                while not self._stopping:
                    message = await pubsub.get_message(timeout=0.2)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        data = json.loads(message["data"])
                        stream_id, from_node = str(data["stream_id"]), str(data["node_id"])
                        channel = message["channel"]
                        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                    except (ValueError, KeyError, TypeError):
                        continue
                    if from_node == self.node_id:
                        continue
                    if channel == keys.ORIGINS_CHANNEL:
                        held = self._held.get(stream_id)
                        if held is not None and held.epoch < int(data.get("epoch", 0)):
                            del self._held[stream_id]
                        listeners = self._moved_listeners
                    else:
                        listeners = self._ended_listeners
                    for listener in list(listeners):
                        await self._call(listener, stream_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("placement: the ended channel dropped (%s); resubscribing", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    @staticmethod
    async def _call(listener: StreamListener, stream_id: str) -> None:
        try:
            await listener(stream_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("placement listener failed for stream %s", stream_id)
