"""Password rules (NIST SP 800-63B) and bcrypt hashing in bounded thread pools, off the event loop.

One bcrypt at cost 12 takes ~240 ms of CPU. bcrypt releases the GIL, so hashing in threads leaves the event loop
free; but an unbounded number of them (``asyncio.to_thread`` shares the loop's default executor with everything else)
lets a flood of sign-ups queue ahead of every login. So hashing has two lanes, each its own small pool:

- ``hash`` (sign-ups, password changes): ``hash_workers`` threads, at most ``hash_queue`` waiting;
- ``verify`` (logins): ``verify_workers`` threads, at most ``verify_queue`` waiting.

A lane that is full answers ``UnavailableError`` (503, "try again") at once instead of queueing without end; a
sign-up flood can fill only its own lane, so logins keep their latency.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from typing import TypeVar

import bcrypt

from accounts.settings import DEFAULTS
from core.errors import InvalidInputError, UnavailableError

# bcrypt only looks at the first 72 bytes; refuse longer passwords rather than silently truncating.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8

T = TypeVar("T")


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of passwords people pick first (``scripts/gen_common_passwords.py`` builds it)."""
    text = resources.files("accounts").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def check_password(password: str, *, context: tuple[str, ...] = ()) -> None:
    """NIST SP 800-63B §5.1.1.2: at least 8 characters, no composition rules, any printable Unicode and spaces;
    refuse whitespace-only passwords, passwords from the list of common ones, and ones made of the account's own
    words (``context``: email, its local part, nickname). Refusals say why, so the person can pick another."""
    chars = len(unicodedata.normalize("NFKC", password))
    if chars < MIN_PASSWORD_CHARS:
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_CHARS} characters", field="password")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidInputError(f"password must be at most {MAX_PASSWORD_BYTES} bytes", field="password")
    if not password.strip():
        raise InvalidInputError("password must not be only spaces", field="password")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise InvalidInputError("password must not contain control characters", field="password")
    folded = unicodedata.normalize("NFKC", password).casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise InvalidInputError(
            "this password is too common and would be guessed quickly; choose another", field="password"
        )
    for word in context:
        word = word.casefold()
        if len(word) >= 3 and folded.replace(" ", "") in (word, word.replace(" ", "")):
            raise InvalidInputError("password must not be your email address or nickname", field="password")


class PasswordHasher:
    def __init__(
        self,
        rounds: int,
        *,
        hash_workers: int = DEFAULTS.password_hash_workers,
        verify_workers: int = DEFAULTS.password_verify_workers,
        hash_queue: int = 16,
        verify_queue: int = 64,
    ) -> None:
        self._rounds = rounds
        self._hash_pool = ThreadPoolExecutor(hash_workers, thread_name_prefix="bcrypt-hash")
        self._verify_pool = ThreadPoolExecutor(verify_workers, thread_name_prefix="bcrypt-verify")
        # Admission counts (the event loop is single-threaded, so plain ints are exact): work running or waiting.
        self._hash_room = hash_workers + hash_queue
        self._verify_room = verify_workers + verify_queue
        self._hashing = 0
        self._verifying = 0
        # A real hash to compare against when the user does not exist, so timing does not tell.
        self._dummy = bcrypt.hashpw(b"dummy-password", bcrypt.gensalt(rounds))

    @property
    def hashing(self) -> int:
        """Sign-up hashes running or waiting now."""
        return self._hashing

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def hash(self, password: str) -> str:
        if self._hashing >= self._hash_room:
            raise UnavailableError("too many sign-ups at once; try again in a few seconds", retry_after_s=2)
        self._hashing += 1
        try:
            hashed = await self._run(self._hash_pool, bcrypt.hashpw, password.encode(), bcrypt.gensalt(self._rounds))
        finally:
            self._hashing -= 1
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        if self._verifying >= self._verify_room:
            raise UnavailableError("too many logins at once; try again in a few seconds", retry_after_s=2)
        raw = password.encode()[:MAX_PASSWORD_BYTES]
        target = hashed.encode() if hashed else self._dummy
        self._verifying += 1
        try:
            ok = await self._run(self._verify_pool, bcrypt.checkpw, raw, target)
        finally:
            self._verifying -= 1
        return ok and hashed is not None

    def close(self) -> None:
        """Stop the pools (work already queued still finishes)."""
        self._hash_pool.shutdown(wait=False, cancel_futures=True)
        self._verify_pool.shutdown(wait=False, cancel_futures=True)
