"""Who someone is in a room: owner, room moderator, staff (global moderator, admin), viewer or guest."""

from __future__ import annotations

from accounts.models import Principal, Role
from rooms.chat_models import RoomRole
from rooms.models import Stream

RANK = {
    RoomRole.GUEST: 0,
    RoomRole.VIEWER: 1,
    RoomRole.MODERATOR: 2,
    RoomRole.OWNER: 3,
    RoomRole.STAFF: 4,
    RoomRole.ADMIN: 5,
}


def room_role(stream: Stream, principal: Principal | None) -> RoomRole:
    if principal is None:
        return RoomRole.GUEST
    return role_of_user(stream, principal.user_id, principal.role)


def role_of_user(stream: Stream, user_id: str, account_role: Role) -> RoomRole:
    if account_role is Role.ADMIN:
        return RoomRole.ADMIN
    if account_role is Role.MODERATOR:
        return RoomRole.STAFF
    if user_id == stream.owner_id:
        return RoomRole.OWNER
    if user_id in stream.moderators:
        return RoomRole.MODERATOR
    return RoomRole.VIEWER


def badges(
    stream: Stream, user_id: str, account_role: Role, top_gifters: tuple[str, ...], sub_months: int = 0
) -> tuple[str, ...]:
    out: list[str] = []
    if user_id == stream.owner_id:
        out.append("owner")
    elif user_id in stream.moderators:
        out.append("moderator")
    if account_role.is_staff:
        out.append("staff")
    if sub_months:
        out.append("subscriber")  # the months count is the message's user.sub_months
    if user_id in top_gifters:
        out.append("top_gifter")
    return tuple(out)
