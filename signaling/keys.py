"""Redis channels owned by ``signaling`` (Socket.IO fan-out between nodes). One channel per room, so a node only
receives and decodes traffic of rooms it has members in.

| channel | carries |
|---|---|
| ``sio:r:s:{<stream_id>}`` | events to everyone in a stream's room |
| ``sio:r:m:{<stream_id>}`` | events to the room's moderators (``mod:event``) |
| ``sio:r:u:{<user_id>}`` | events to every connection of one user (``you:restricted``) |
| ``sio:n:{<node_id>}`` | this node's own channel (keeps the subscriber connection open; node-to-node calls) |

The id in braces is the Redis Cluster hash tag: on a cluster these are *shard channels* (``SPUBLISH`` /
``SSUBSCRIBE``), each served by the master that owns its slot, the same master as the room's keys
(``rooms/keys.py``). Rooms spread over the masters; no master carries every room's traffic.

Messages are msgpack arrays ``[origin_node_id, namespace, room, event, data]``.
"""

from __future__ import annotations

ROOM_CHANNEL = "sio:r:"
NODE_CHANNEL = "sio:n:"

# Socket.IO room name prefixes that are shared across nodes (each maps to a channel above).
STREAM_ROOM = "s:"
MODERATORS_ROOM = "m:"
USER_ROOM = "u:"
SHARED_ROOM_PREFIXES = (STREAM_ROOM, MODERATORS_ROOM, USER_ROOM)


def room_channel(room: str) -> str:
    """``s:abc`` -> ``sio:r:s:{abc}``: the room's prefix, then its id as the hash tag."""
    return ROOM_CHANNEL + room[:2] + "{" + room[2:] + "}"


def node_channel(node_id: str) -> str:
    return NODE_CHANNEL + "{" + node_id + "}"


def stream_room(stream_id: str) -> str:
    return STREAM_ROOM + stream_id


def moderators_room(stream_id: str) -> str:
    return MODERATORS_ROOM + stream_id


def user_room(user_id: str) -> str:
    return USER_ROOM + user_id


def is_shared_room(room: object) -> bool:
    return isinstance(room, str) and room[:2] in SHARED_ROOM_PREFIXES
