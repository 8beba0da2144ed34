from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import as_utc
from core.ids import UserId


class Role(enum.StrEnum):
    VIEWER = "viewer"
    STREAMER = "streamer"
    MODERATOR = "moderator"  # global moderator
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in (Role.MODERATOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    email: str
    nickname: str
    role: Role
    created_at: datetime
    phone: str | None = None
    bio: str = ""
    avatar_url: str | None = None
    identity_verified: bool = False
    suspended: bool = False

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> User:
        return cls(
            id=UserId(doc["_id"]),
            email=doc["email"],
            nickname=doc["nickname"],
            role=Role(doc.get("role", "viewer")),
            created_at=as_utc(doc["created_at"]),
            phone=doc.get("phone"),
            bio=doc.get("bio", ""),
            avatar_url=doc.get("avatar_url"),
            identity_verified=bool(doc.get("identity_verified", False)),
            suspended=bool(doc.get("suspended", False)),
        )

    def public(self) -> dict[str, Any]:
        """What anyone may see of this user."""
        return {
            "id": self.id,
            "nickname": self.nickname,
            "role": self.role.value,
            "bio": self.bio,
            "avatar_url": self.avatar_url,
            "created_at": self.created_at.isoformat(),
        }

    def private(self) -> dict[str, Any]:
        """What the user sees of themselves."""
        return {
            **self.public(),
            "email": self.email,
            "phone": self.phone,
            "identity_verified": self.identity_verified,
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as proven by an access token."""

    user_id: UserId
    role: Role
    session_id: str

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
