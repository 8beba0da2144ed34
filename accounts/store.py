"""MongoDB access for accounts.

Collections owned here: ``users``, ``auth_sessions``, ``refresh_tokens``, ``follows``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from accounts.errors import DuplicateAccountError
from accounts.models import Role

PROFILE_FIELDS = frozenset({"nickname", "bio", "avatar_url", "phone"})


class AccountStore:
    def __init__(self, db: Any) -> None:
        self._users = db["users"]
        self._sessions = db["auth_sessions"]
        self._refresh = db["refresh_tokens"]
        self._follows = db["follows"]

    async def create_indexes(self) -> None:
        await self._users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
        # Sparse: users without a phone have no ``phone`` field at all, so they never collide.
        await self._users.create_index([("phone", ASCENDING)], unique=True, sparse=True, name="phone_unique")
        await self._refresh.create_index([("family", ASCENDING)], name="family")
        await self._refresh.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl")
        await self._follows.create_index([("follower", ASCENDING), ("at", DESCENDING)], name="by_follower")
        await self._follows.create_index([("followee", ASCENDING), ("at", DESCENDING)], name="by_followee")
        # Walking a streamer's followers in id order, a page at a time (the go-live fan-out's cursor).
        await self._follows.create_index([("followee", ASCENDING), ("follower", ASCENDING)], name="followers_walk")

    # Users
    async def _duplicate(self, exc: DuplicateKeyError, doc: dict[str, Any]) -> DuplicateAccountError:
        """Which unique field collided: MongoDB names it in ``keyPattern``; otherwise look it up."""
        pattern = (exc.details or {}).get("keyPattern") or {}
        field = next(iter(pattern), None)
        if field not in ("email", "phone"):
            field = "email"
            if "phone" in doc and await self._users.find_one({"phone": doc["phone"], "_id": {"$ne": doc.get("_id")}}):
                field = "phone"
            if "email" in doc and await self._users.find_one({"email": doc["email"], "_id": {"$ne": doc.get("_id")}}):
                field = "email"
        return DuplicateAccountError(f"an account with this {field} already exists", field=field)

    async def insert_user(self, doc: dict[str, Any]) -> None:
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise await self._duplicate(exc, doc) from None

    async def get_user(self, user_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._users.find_one({"_id": user_id})
        return doc

    async def get_users(self, user_ids: list[str]) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self._users.find({"_id": {"$in": user_ids}}).to_list(None)
        return docs

    async def search_users(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Users whose nickname or email starts with ``text`` (any case), or whose id is ``text``; newest first.
        No text: the newest users."""
        q: dict[str, Any] = {}
        if text:
            prefix = {"$regex": "^" + re.escape(text), "$options": "i"}
            q = {"$or": [{"_id": text}, {"nickname": prefix}, {"email": prefix}]}
        docs: list[dict[str, Any]] = (
            await self._users.find(q).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list(None)
        )
        return docs

    async def find_by_login(self, login: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._users.find_one({"$or": [{"email": login}, {"phone": login}]})
        return doc

    async def _set(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] | None = await self._users.find_one_and_update(
                {"_id": user_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise await self._duplicate(exc, {"_id": user_id, **changes}) from None
        return doc

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set profile fields (nickname, bio, avatar_url, phone); a phone someone else has is a
        ``DuplicateAccountError``. Returns the user after, or None if there is no such user."""
        unknown = set(changes) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        return await self._set(user_id, changes)

    async def set_role(self, user_id: str, role: Role) -> dict[str, Any] | None:
        return await self._set(user_id, {"role": role.value})

    async def set_suspended(self, user_id: str, suspended: bool) -> dict[str, Any] | None:
        return await self._set(user_id, {"suspended": suspended})

    async def set_identity_verified(self, user_id: str, verified: bool) -> dict[str, Any] | None:
        return await self._set(user_id, {"identity_verified": verified})

    async def promote_viewer(self, user_id: str, role: Role) -> None:
        """Raise a plain viewer to ``role``; never lowers a moderator or admin."""
        await self._users.update_one({"_id": user_id, "role": Role.VIEWER.value}, {"$set": {"role": role.value}})

    # Sessions and refresh tokens
    async def insert_session(self, session_id: str, user_id: str, at: datetime) -> None:
        await self._sessions.insert_one({"_id": session_id, "user_id": user_id, "created_at": at, "revoked": False})

    async def session_revoked(self, session_id: str) -> bool:
        doc = await self._sessions.find_one({"_id": session_id}, {"revoked": 1})
        return doc is None or bool(doc.get("revoked"))

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        await self._sessions.update_one({"_id": session_id}, {"$set": {"revoked": True, "revoked_at": at}})
        await self._refresh.update_many({"family": session_id}, {"$set": {"revoked": True}})

    async def revoke_user_sessions(self, user_id: str, at: datetime) -> None:
        await self._sessions.update_many({"user_id": user_id}, {"$set": {"revoked": True, "revoked_at": at}})
        await self._refresh.update_many({"user_id": user_id}, {"$set": {"revoked": True}})

    async def insert_refresh(self, token_hash: str, session_id: str, user_id: str, expires_at: datetime) -> None:
        await self._refresh.insert_one(
            {"_id": token_hash, "family": session_id, "user_id": user_id, "expires_at": expires_at, "used": False}
        )

    async def spend_refresh(self, token_hash: str) -> dict[str, Any] | None:
        """Mark a refresh token used, atomically. Returns it if this call spent it, else None."""
        doc: dict[str, Any] | None = await self._refresh.find_one_and_update(
            {"_id": token_hash, "used": False, "revoked": {"$ne": True}}, {"$set": {"used": True}}
        )
        return doc

    async def get_refresh(self, token_hash: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._refresh.find_one({"_id": token_hash})
        return doc

    # Follows
    async def insert_follow(self, follower: str, followee: str, at: datetime) -> bool:
        try:
            await self._follows.insert_one(
                {"_id": f"{follower}:{followee}", "follower": follower, "followee": followee, "at": at}
            )
        except DuplicateKeyError:
            return False
        return True

    async def delete_follow(self, follower: str, followee: str) -> bool:
        result = await self._follows.delete_one({"_id": f"{follower}:{followee}"})
        return bool(result.deleted_count)

    async def get_follow(self, follower: str, followee: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._follows.find_one({"_id": f"{follower}:{followee}"})
        return doc

    async def followees(self, follower: str, limit: int = 5000) -> list[str]:
        docs = await self._follows.find({"follower": follower}, {"followee": 1}).limit(limit).to_list(None)
        return [d["followee"] for d in docs]

    async def followers_after(self, followee: str, after: str | None, limit: int) -> list[str]:
        """``followee``'s followers in id order, the first ``limit`` after ``after`` (from the start when None)."""
        q: dict[str, Any] = {"followee": followee}
        if after is not None:
            q["follower"] = {"$gt": after}
        cursor = self._follows.find(q, {"follower": 1}).sort([("follower", ASCENDING)]).limit(limit)
        return [d["follower"] for d in await cursor.to_list(None)]

    async def iter_followers(self, followee: str, after: str | None) -> AsyncGenerator[str, None]:
        """``followee``'s followers in id order after ``after``, streamed from ONE query (the index
        ``followee, follower``): a fan-out walks a hundred thousand without a query per page."""
        q: dict[str, Any] = {"followee": followee}
        if after is not None:
            q["follower"] = {"$gt": after}
        async for doc in self._follows.find(q, {"follower": 1}).sort([("follower", ASCENDING)]):
            yield doc["follower"]

    async def count_followers(self, user_id: str) -> int:
        return int(await self._follows.count_documents({"followee": user_id}))

    async def count_following(self, user_id: str) -> int:
        return int(await self._follows.count_documents({"follower": user_id}))
