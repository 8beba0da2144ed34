"""Redis key prefixes owned by ``gifts``."""

LEADERBOARD = "gifts:lb:"  # gifts:lb:{stream_id} -> sorted set user_id -> coins (live top gifters)
LEADERBOARD_SEEN = "gifts:lbseen:"  # gifts:lbseen:{transfer_id} -> 1 (a transfer counted once), expires
COMBO = "gifts:combo:"  # gifts:combo:{stream_id}:{sender_id}:{gift_id} -> running count, expires with the window
COMBO_SEEN = "gifts:comboseen:"  # gifts:comboseen:{transfer_id} -> 1 (a retried send does not grow the combo)
