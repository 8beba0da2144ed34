"""Password hashing with bcrypt, off the event loop (one verify at cost 12 takes ~240 ms)."""

from __future__ import annotations

import asyncio

import bcrypt

# bcrypt only looks at the first 72 bytes; refuse longer passwords rather than silently truncating.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        # A real hash to compare against when the user does not exist, so timing does not tell.
        self._dummy = bcrypt.hashpw(b"dummy-password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        raw = password.encode()
        hashed = await asyncio.to_thread(bcrypt.hashpw, raw, bcrypt.gensalt(self._rounds))
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        raw = password.encode()[:MAX_PASSWORD_BYTES]
        target = hashed.encode() if hashed else self._dummy
        ok = await asyncio.to_thread(bcrypt.checkpw, raw, target)
        return ok and hashed is not None
