"""Redis key prefixes owned by ``hub``."""

RATE_LIMIT = "rl:"  # rl:{bucket} -> hash {tokens, ts}
