"""Redis key prefixes owned by ``gifts``.

The stream id in braces is the Redis Cluster hash tag, as for every room key (``rooms/keys.py``): a stream's board,
its combo counters and the markers the scripts check with them are in one slot, so each script touches one master.
"""

LEADERBOARD = "gifts:lb:"  # gifts:lb:{<stream_id>} -> sorted set user_id -> coins (live top gifters)
LEADERBOARD_SEEN = "gifts:lbseen:"  # gifts:lbseen:{<stream_id>}:<transfer_id> -> 1 (a transfer counted once), expires
COMBO = "gifts:combo:"  # gifts:combo:{<stream_id>}:<sender_id>:<gift_id> -> running count, expires with the window
COMBO_SEEN = "gifts:comboseen:"  # gifts:comboseen:{<stream_id>}:<transfer_id> -> 1 (a retried send counts once)


def _tag(stream_id: str) -> str:
    return "{" + stream_id + "}"


def leaderboard(stream_id: str) -> str:
    return LEADERBOARD + _tag(stream_id)


def leaderboard_seen(stream_id: str, transfer_id: str) -> str:
    return f"{LEADERBOARD_SEEN}{_tag(stream_id)}:{transfer_id}"


def combo(stream_id: str, sender_id: str, gift_id: str) -> str:
    return f"{COMBO}{_tag(stream_id)}:{sender_id}:{gift_id}"


def combo_seen(stream_id: str, transfer_id: str) -> str:
    return f"{COMBO_SEEN}{_tag(stream_id)}:{transfer_id}"
