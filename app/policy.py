"""Who may do what: the one place that decides. Every use case of both edges asks here first.

Pure: facts in (the caller's fresh ``Principal``, the room's state and the caller's standing in the channel), and
either nothing (allowed) or a ``HubError`` with a stable code out. ``tests/unit/app/test_policy.py`` is the table.

The order of checks is fixed, so the same situation gives the same code on both edges:
1. a signed-in caller is needed → ``unauthenticated``;
2. a suspended account may do nothing that needs signing in → ``account_suspended``;
3. the stream's state (an ended stream takes no joins, media, chat, gifts or moderation) → ``stream_ended``;
4. the caller's role: account role (``admin``, global ``moderator`` = staff) or room role (owner, the channel's
   moderators) → ``forbidden`` (``not_owner`` for publishing);
5. a ban or timeout in the channel stops chatting, liking, gifting, reporting and publishing → ``restricted``.

Rules a newcomer should know:
- Moderators belong to the streamer's channel and hold in every stream of that channel; bans and timeouts too.
- Ending a stream is for its owner and admins (global moderators moderate chat; they do not end broadcasts).
- Moderation that changes something needs a stream that has not ended; reading the log and reports does not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from accounts.models import Role
from app.principal import Principal
from core.errors import ForbiddenError, HubError, UnauthenticatedError
from core.ids import UserId
from rooms.chat import RestrictedError
from rooms.chat_models import RoomRole
from rooms.errors import StreamEndedError
from rooms.models import Stream, StreamStatus


class Action(enum.StrEnum):
    """Every action of both edges (HTTP operation or socket event → action in the comment)."""

    # Accounts
    REGISTER = "register"  # POST /auth/register
    LOGIN = "login"  # POST /auth/login, /auth/refresh
    LOGOUT = "logout"  # POST /auth/logout
    READ_PROFILE = "read_profile"  # GET /users/{id}
    MANAGE_SELF = "manage_self"  # GET/PATCH /me, follow, unfollow
    SET_ROLE = "set_role"  # POST /admin/users/{id}/role
    SET_SUSPENSION = "set_suspension"  # POST /admin/users/{id}/suspension
    SET_IDENTITY = "set_identity"  # POST /admin/users/{id}/identity
    # Streams
    BROWSE_STREAMS = "browse_streams"  # GET /streams, GET /streams/{id}
    LIST_MY_STREAMS = "list_my_streams"  # GET /streams/mine, /following, /moderated
    CREATE_STREAM = "create_stream"  # POST /streams
    READ_STREAM_KEY = "read_stream_key"  # GET /streams/{id} (owner), POST /streams/{id}/key
    GO_LIVE = "go_live"  # POST /streams/{id}/live
    END_STREAM = "end_stream"  # POST /streams/{id}/end, mod:action end_stream
    NAME_MODERATOR = "name_moderator"  # POST/DELETE /streams/{id}/moderators
    PUBLISH = "publish"  # rtc:publish, WHIP (the key stands for the owner)
    WATCH = "watch"  # rtc:subscribe, WHEP, stream:join
    BROWSE_NODES = "browse_nodes"  # GET /cluster/nodes (where a viewer may watch)
    # Rooms
    CHAT = "chat"  # chat:send
    LIKE = "like"  # like:send
    REPORT = "report"  # report:send, POST /streams/{id}/reports
    READ_ROOM = "read_room"  # GET chat history, viewers count, leaderboard, goal, pk:state
    MODERATE = "moderate"  # mod:action (all but end_stream), POST /streams/{id}/mod-actions
    READ_MODERATION = "read_moderation"  # modlog, reports, room-settings, restrictions, viewer list, removed chat
    RESOLVE_REPORT = "resolve_report"  # POST /streams/{id}/reports/{rid}/resolve
    # Gifts
    BROWSE_GIFTS = "browse_gifts"  # GET /gifts
    SEND_GIFT = "send_gift"  # gift:send, POST /streams/{id}/gifts
    SET_GOAL = "set_goal"  # PUT/DELETE /streams/{id}/goal
    EDIT_CATALOGUE = "edit_catalogue"  # POST/PATCH /admin/gifts
    # PK battles (the streamer's own steps; reading a room's battle is READ_ROOM)
    PK_BATTLE = "pk_battle"  # pk:invite, pk:accept, pk:decline, pk:cancel, pk:quit, pk:match, pk:match_cancel
    # Overlays (OBS browser sources)
    SET_TRANSCODING = "set_transcoding"  # PUT /streams/{id}/transcoding (the transcoded ladder, issue 13)
    MANAGE_OVERLAYS = "manage_overlays"  # GET /streams/{id}/overlays, POST .../overlays/rotate, .../test-alert
    WATCH_OVERLAY = "watch_overlay"  # overlay:join (the overlay key is the authority, as a WHIP session URL is)
    # Recordings
    RECORD_STREAM = "record_stream"  # POST /streams/{id}/recordings
    STOP_RECORDING = "stop_recording"  # POST /streams/{id}/recordings/stop
    WATCH_RECORDING = "watch_recording"  # GET /users/{id}/recordings, /recordings/{id}, /recordings/{id}/media
    MANAGE_RECORDING = "manage_recording"  # DELETE /recordings/{id}; seeing unfinished ones
    # The admin console
    ADMINISTER_PLATFORM = "administer_platform"  # GET /admin/users*, /admin/reports*, /admin/audit
    TAKE_DOWN_STREAM = "take_down_stream"  # POST /admin/streams/{id}/takedown
    # Wallet
    BROWSE_COIN_PACKS = "browse_coin_packs"  # GET /wallet/coin-packs
    USE_WALLET = "use_wallet"  # GET /wallet, transactions, top-ups, cash-out requests
    ADMINISTER_MONEY = "administer_money"  # /admin/cashouts*, /admin/users/{id}/wallet*, /admin/wallet/adjustments
    # Notifications
    USE_NOTIFICATIONS = "use_notifications"  # /notifications*, mutes, push key and subscriptions
    # Channel subscriptions
    BROWSE_SUBSCRIPTIONS = "browse_subscriptions"  # GET /subscriptions/tiers, /channels/{id}/emotes, /emotes/{id}
    SUBSCRIBE = "subscribe"  # /channels/{id}/subscription (start, read, cancel, resume), GET /me/subscriptions
    GIFT_SUBSCRIPTION = "gift_subscription"  # POST /channels/{id}/subscription-gifts (paid in coins)
    MANAGE_EMOTES = "manage_emotes"  # POST /me/emotes, DELETE /me/emotes/{id} (the caller's own channel)
    # Channel points (loyalty)
    BROWSE_REWARDS = "browse_rewards"  # GET /streams/{id}/rewards (with my balance when signed in)
    REDEEM_REWARD = "redeem_reward"  # POST /streams/{id}/rewards/{rid}/redeem
    MANAGE_REWARDS = "manage_rewards"  # POST /streams/{id}/rewards, PATCH .../rewards/{rid}, GET ...?all=true
    HANDLE_REDEMPTIONS = "handle_redemptions"  # GET /streams/{id}/redemptions, POST .../{rid}/fulfil|refund
    USE_POINTS = "use_points"  # GET /me/points (my balances in every channel)


class Rule(enum.Enum):
    ANYONE = "anyone"  # guests too
    SIGNED_IN = "signed_in"
    OWNER = "owner"  # the stream's owner
    OWNER_OR_ADMIN = "owner_or_admin"
    PUBLISHER = "publisher"  # the owner only, not restricted
    VIEWER = "viewer"  # anyone, signed in or not (suspended accounts excluded)
    PARTICIPANT = "participant"  # signed in, not banned or timed out in the channel
    MODERATOR = "moderator"  # owner, the channel's moderators, staff, admins
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Requirement:
    rule: Rule
    open_stream: bool = False  # the stream must not have ended
    suspended_code: str = "account_suspended"  # the code a suspended caller gets (gifts always said user_blocked)


REQUIREMENTS: dict[Action, Requirement] = {
    Action.REGISTER: Requirement(Rule.ANYONE),
    Action.LOGIN: Requirement(Rule.ANYONE),
    Action.LOGOUT: Requirement(Rule.ANYONE),  # a suspended account may still sign itself out
    Action.READ_PROFILE: Requirement(Rule.ANYONE),
    Action.MANAGE_SELF: Requirement(Rule.SIGNED_IN),
    Action.SET_ROLE: Requirement(Rule.ADMIN),
    Action.SET_SUSPENSION: Requirement(Rule.ADMIN),
    Action.SET_IDENTITY: Requirement(Rule.ADMIN),
    Action.BROWSE_STREAMS: Requirement(Rule.ANYONE),
    Action.LIST_MY_STREAMS: Requirement(Rule.SIGNED_IN),
    Action.CREATE_STREAM: Requirement(Rule.SIGNED_IN),
    Action.READ_STREAM_KEY: Requirement(Rule.OWNER),
    Action.GO_LIVE: Requirement(Rule.OWNER, open_stream=True),
    Action.END_STREAM: Requirement(Rule.OWNER_OR_ADMIN),
    Action.NAME_MODERATOR: Requirement(Rule.OWNER),
    Action.PUBLISH: Requirement(Rule.PUBLISHER, open_stream=True),
    Action.WATCH: Requirement(Rule.VIEWER, open_stream=True),
    Action.BROWSE_NODES: Requirement(Rule.ANYONE),
    Action.CHAT: Requirement(Rule.PARTICIPANT, open_stream=True),
    Action.LIKE: Requirement(Rule.PARTICIPANT, open_stream=True),
    Action.REPORT: Requirement(Rule.PARTICIPANT),
    Action.READ_ROOM: Requirement(Rule.ANYONE),
    Action.MODERATE: Requirement(Rule.MODERATOR, open_stream=True),
    Action.READ_MODERATION: Requirement(Rule.MODERATOR),
    Action.RESOLVE_REPORT: Requirement(Rule.MODERATOR),
    Action.BROWSE_GIFTS: Requirement(Rule.ANYONE),
    # Not open_stream: the gift service answers stream_not_live, and a replayed key returns its ack even then.
    Action.SEND_GIFT: Requirement(Rule.PARTICIPANT, suspended_code="user_blocked"),
    Action.SET_GOAL: Requirement(Rule.OWNER),
    Action.EDIT_CATALOGUE: Requirement(Rule.ADMIN),
    Action.PK_BATTLE: Requirement(Rule.PUBLISHER, open_stream=True),
    Action.SET_TRANSCODING: Requirement(Rule.OWNER),
    Action.MANAGE_OVERLAYS: Requirement(Rule.OWNER),
    Action.WATCH_OVERLAY: Requirement(Rule.ANYONE),
    Action.RECORD_STREAM: Requirement(Rule.OWNER_OR_ADMIN, open_stream=True),
    Action.STOP_RECORDING: Requirement(Rule.OWNER_OR_ADMIN),
    Action.WATCH_RECORDING: Requirement(Rule.ANYONE),
    Action.MANAGE_RECORDING: Requirement(Rule.OWNER_OR_ADMIN),
    Action.ADMINISTER_PLATFORM: Requirement(Rule.ADMIN),
    Action.TAKE_DOWN_STREAM: Requirement(Rule.ADMIN),
    Action.BROWSE_COIN_PACKS: Requirement(Rule.ANYONE),
    Action.USE_WALLET: Requirement(Rule.SIGNED_IN),
    Action.ADMINISTER_MONEY: Requirement(Rule.ADMIN),
    Action.USE_NOTIFICATIONS: Requirement(Rule.SIGNED_IN),
    Action.BROWSE_SUBSCRIPTIONS: Requirement(Rule.ANYONE),
    Action.SUBSCRIBE: Requirement(Rule.SIGNED_IN),
    Action.GIFT_SUBSCRIPTION: Requirement(Rule.SIGNED_IN, suspended_code="user_blocked"),
    Action.MANAGE_EMOTES: Requirement(Rule.SIGNED_IN),
    Action.BROWSE_REWARDS: Requirement(Rule.ANYONE),
    # Redeeming needs a stream that has not ended (highlights and sound alerts are for the live room).
    Action.REDEEM_REWARD: Requirement(Rule.PARTICIPANT, open_stream=True),
    Action.MANAGE_REWARDS: Requirement(Rule.OWNER),
    Action.HANDLE_REDEMPTIONS: Requirement(Rule.MODERATOR),
    Action.USE_POINTS: Requirement(Rule.SIGNED_IN),
}

ROOM_ACTIONS = frozenset(
    a
    for a, r in REQUIREMENTS.items()
    if r.open_stream or r.rule in (Rule.OWNER, Rule.OWNER_OR_ADMIN, Rule.PUBLISHER, Rule.PARTICIPANT, Rule.MODERATOR)
)


@dataclass(frozen=True, slots=True)
class Standing:
    """A ban or timeout of the caller in the room's channel (active at the time of the request)."""

    kind: str  # "ban" | "timeout"
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """What the policy needs to know of a stream: its owner, its state, its channel's moderators and the caller's
    restriction there (if any)."""

    owner_id: UserId
    status: StreamStatus
    moderators: frozenset[UserId] = frozenset()
    restriction: Standing | None = None

    @classmethod
    def of(cls, stream: Stream, restriction: Standing | None = None) -> Room:
        return cls(stream.owner_id, stream.status, frozenset(stream.moderators), restriction)


def room_role(who: Principal | None, room: Room) -> RoomRole:
    """The caller's role in a room: account roles first (admin, staff), then owner, channel moderator, viewer."""
    if who is None:
        return RoomRole.GUEST
    if who.role is Role.ADMIN:
        return RoomRole.ADMIN
    if who.role is Role.MODERATOR:
        return RoomRole.STAFF
    if who.user_id == room.owner_id:
        return RoomRole.OWNER
    if who.user_id in room.moderators:
        return RoomRole.MODERATOR
    return RoomRole.VIEWER


def decide(action: Action, who: Principal | None, room: Room | None = None) -> HubError | None:
    """None when ``who`` may do ``action`` (in ``room``), else the error to answer with (not raised)."""
    req = REQUIREMENTS[action]
    if req.rule is not Rule.ANYONE and req.rule is not Rule.VIEWER and who is None:
        return UnauthenticatedError("log in first")
    if who is not None and who.suspended and req.rule is not Rule.ANYONE:
        return ForbiddenError("this account is suspended", code=req.suspended_code)
    if req.rule is Rule.ADMIN:
        return None if who is not None and who.is_admin else ForbiddenError("admins only")
    if req.rule in (Rule.ANYONE, Rule.SIGNED_IN) and action not in ROOM_ACTIONS:
        return None
    if room is None:
        raise ValueError(f"{action.value} needs the room")
    if req.open_stream and room.status is StreamStatus.ENDED:
        return StreamEndedError("this stream has ended")
    role = room_role(who, room)
    owner = who is not None and who.user_id == room.owner_id  # an admin's own stream is still theirs
    if req.rule is Rule.OWNER and not owner:
        return ForbiddenError("only the stream's owner can do this")
    if req.rule is Rule.OWNER_OR_ADMIN and not (owner or role is RoomRole.ADMIN):
        return ForbiddenError("only the stream's owner or an admin can do this")
    if req.rule is Rule.PUBLISHER and not owner:
        # Staff and admins moderate; only the owner's camera is the stream.
        return ForbiddenError("only the stream's owner can publish", code="not_owner")
    if req.rule is Rule.MODERATOR and not role.can_moderate:
        return ForbiddenError("only the room's moderators can do this")
    if req.rule in (Rule.PARTICIPANT, Rule.PUBLISHER) and room.restriction is not None and not role.can_moderate:
        r = room.restriction
        return RestrictedError(
            f"you are {'banned' if r.kind == 'ban' else 'timed out'} in this channel",
            kind=r.kind,
            until=r.until.isoformat() if r.until else None,
        )
    return None


def require(action: Action, who: Principal | None, room: Room | None = None) -> None:
    """Raise the error ``decide`` returns, if any."""
    error = decide(action, who, room)
    if error is not None:
        raise error
