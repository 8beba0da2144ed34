"""Redis keys owned by ``rooms`` (one owner per prefix; see ``signaling/keys.py`` for the fan-out channels).

The stream id is the key's Redis Cluster hash tag (written in braces, literally): every key of one room, of every
owner (``rooms``, ``gifts``, ``cluster``, the fan-out channels), lands in the same slot, on the same master.

| key | type | what |
|---|---|---|
| ``room:recent:{<stream_id>}`` | list | the newest 100 chat messages (JSON), newest first, for a fast ``stream:join`` |
| ``room:viewers:{<stream_id>}`` | sorted set | viewer keys (user id or ``g:<sid>``) scored by expiry (unix s) |
| ``room:likes:{<stream_id>}`` | string | the like total (INCRBY) |
| ``room:nicks:{<stream_id>}`` | hash | lower-cased nickname -> user id of people who joined, for resolving @mentions |
"""

from __future__ import annotations

RECENT_CHAT = "room:recent:"
VIEWERS = "room:viewers:"
LIKES = "room:likes:"
NICKNAMES = "room:nicks:"

# Every room key expires this long after its last write, so ended rooms clean themselves up.
ROOM_KEY_TTL_S = 24 * 3600


def tag(stream_id: str) -> str:
    """The Redis Cluster hash tag of a room's keys (the part between the braces decides the slot)."""
    return "{" + stream_id + "}"


def recent_chat(stream_id: str) -> str:
    return RECENT_CHAT + tag(stream_id)


def viewers(stream_id: str) -> str:
    return VIEWERS + tag(stream_id)


def likes(stream_id: str) -> str:
    return LIKES + tag(stream_id)


def nicknames(stream_id: str) -> str:
    return NICKNAMES + tag(stream_id)
