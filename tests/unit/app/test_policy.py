"""The authorization table: persona × stream state × action → allowed or the error code, for every action of both
edges. Written out by hand (not derived from the policy), so a changed rule shows up here as a changed row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.models import Role
from app.policy import REQUIREMENTS, Action, Room, Standing, decide
from app.principal import Principal
from core.ids import UserId
from rooms.models import StreamStatus
from signaling.events import registry
from signaling.handlers import load

OWNER, MOD = UserId("u-owner"), UserId("u-mod")

PERSONAS: dict[str, tuple[Principal | None, Standing | None]] = {
    "guest": (None, None),
    "viewer": (Principal(UserId("u-viewer"), Role.VIEWER, "s"), None),
    "banned": (Principal(UserId("u-banned"), Role.VIEWER, "s"), Standing("ban")),
    "timed_out": (
        Principal(UserId("u-to"), Role.VIEWER, "s"),
        Standing("timeout", datetime(2030, 1, 1, tzinfo=UTC)),
    ),
    "suspended": (Principal(UserId("u-susp"), Role.VIEWER, "s", suspended=True), None),
    "owner": (Principal(OWNER, Role.STREAMER, "s"), None),
    "mod": (Principal(MOD, Role.VIEWER, "s"), None),
    "staff": (Principal(UserId("u-staff"), Role.MODERATOR, "s"), None),
    "admin": (Principal(UserId("u-admin"), Role.ADMIN, "s"), None),
}
COLUMNS = tuple(PERSONAS)

# Codes: ok, unauth(enticated), susp(ended account), forb(idden), ended (stream_ended), restr(icted), not_owner.
ALL_OK = "ok ok ok ok ok ok ok ok ok"
SIGNED_IN = "unauth ok ok ok susp ok ok ok ok"
ADMIN_ONLY = "unauth forb forb forb susp forb forb forb admin_ok"
OWNER_ONLY = "unauth forb forb forb susp ok forb forb forb"
ENDED_FOR_SIGNED_IN = "unauth ended ended ended susp ended ended ended ended"
PARTICIPANT = "unauth ok restr restr susp ok ok ok ok"
MODERATOR = "unauth forb forb forb susp ok ok ok ok"

#: action: (row for a created or live stream, row for an ended stream)
TABLE: dict[Action, tuple[str, str]] = {
    Action.REGISTER: (ALL_OK, ALL_OK),
    Action.LOGIN: (ALL_OK, ALL_OK),
    Action.LOGOUT: (ALL_OK, ALL_OK),
    Action.READ_PROFILE: (ALL_OK, ALL_OK),
    Action.BROWSE_NODES: (ALL_OK, ALL_OK),
    Action.MANAGE_SELF: (SIGNED_IN, SIGNED_IN),
    Action.SET_ROLE: (ADMIN_ONLY, ADMIN_ONLY),
    Action.SET_SUSPENSION: (ADMIN_ONLY, ADMIN_ONLY),
    Action.SET_IDENTITY: (ADMIN_ONLY, ADMIN_ONLY),
    Action.BROWSE_STREAMS: (ALL_OK, ALL_OK),
    Action.LIST_MY_STREAMS: (SIGNED_IN, SIGNED_IN),
    Action.CREATE_STREAM: (SIGNED_IN, SIGNED_IN),
    Action.READ_STREAM_KEY: (OWNER_ONLY, OWNER_ONLY),
    Action.GO_LIVE: (OWNER_ONLY, ENDED_FOR_SIGNED_IN),
    Action.END_STREAM: (
        "unauth forb forb forb susp ok forb forb ok",
        "unauth forb forb forb susp ok forb forb ok",
    ),
    Action.NAME_MODERATOR: (OWNER_ONLY, OWNER_ONLY),
    Action.PUBLISH: (
        "unauth not_owner not_owner not_owner susp ok not_owner not_owner not_owner",
        ENDED_FOR_SIGNED_IN,
    ),
    Action.WATCH: (
        "ok ok ok ok susp ok ok ok ok",
        "ended ended ended ended susp ended ended ended ended",
    ),
    Action.CHAT: (PARTICIPANT, ENDED_FOR_SIGNED_IN),
    Action.LIKE: (PARTICIPANT, ENDED_FOR_SIGNED_IN),
    Action.REPORT: (PARTICIPANT, PARTICIPANT),
    Action.READ_ROOM: (ALL_OK, ALL_OK),
    Action.MODERATE: (MODERATOR, ENDED_FOR_SIGNED_IN),
    Action.READ_MODERATION: (MODERATOR, MODERATOR),
    Action.RESOLVE_REPORT: (MODERATOR, MODERATOR),
    Action.BROWSE_GIFTS: (ALL_OK, ALL_OK),
    Action.SEND_GIFT: (
        "unauth ok restr restr blocked ok ok ok ok",
        "unauth ok restr restr blocked ok ok ok ok",
    ),
    Action.SET_GOAL: (OWNER_ONLY, OWNER_ONLY),
    Action.PK_BATTLE: (
        "unauth not_owner not_owner not_owner susp ok not_owner not_owner not_owner",
        ENDED_FOR_SIGNED_IN,
    ),
    Action.EDIT_CATALOGUE: (ADMIN_ONLY, ADMIN_ONLY),
    Action.SET_TRANSCODING: (OWNER_ONLY, OWNER_ONLY),
    Action.MANAGE_OVERLAYS: (OWNER_ONLY, OWNER_ONLY),
    Action.WATCH_OVERLAY: (ALL_OK, ALL_OK),  # the overlay key is the authority
    Action.RECORD_STREAM: ("unauth forb forb forb susp ok forb forb ok", ENDED_FOR_SIGNED_IN),
    Action.STOP_RECORDING: (
        "unauth forb forb forb susp ok forb forb ok",
        "unauth forb forb forb susp ok forb forb ok",
    ),
    Action.WATCH_RECORDING: (ALL_OK, ALL_OK),
    Action.MANAGE_RECORDING: (
        "unauth forb forb forb susp ok forb forb ok",
        "unauth forb forb forb susp ok forb forb ok",
    ),
    Action.ADMINISTER_PLATFORM: (ADMIN_ONLY, ADMIN_ONLY),
    Action.TAKE_DOWN_STREAM: (ADMIN_ONLY, ADMIN_ONLY),
    Action.BROWSE_COIN_PACKS: (ALL_OK, ALL_OK),
    Action.USE_WALLET: (SIGNED_IN, SIGNED_IN),
    Action.ADMINISTER_MONEY: (ADMIN_ONLY, ADMIN_ONLY),
    Action.USE_NOTIFICATIONS: (SIGNED_IN, SIGNED_IN),
    Action.BROWSE_SUBSCRIPTIONS: (ALL_OK, ALL_OK),
    Action.SUBSCRIBE: (SIGNED_IN, SIGNED_IN),
    Action.GIFT_SUBSCRIPTION: ("unauth ok ok ok blocked ok ok ok ok", "unauth ok ok ok blocked ok ok ok ok"),
    Action.MANAGE_EMOTES: (SIGNED_IN, SIGNED_IN),
    Action.BROWSE_REWARDS: (ALL_OK, ALL_OK),
    Action.REDEEM_REWARD: (PARTICIPANT, ENDED_FOR_SIGNED_IN),
    Action.MANAGE_REWARDS: (OWNER_ONLY, OWNER_ONLY),
    Action.HANDLE_REDEMPTIONS: (MODERATOR, MODERATOR),
    Action.USE_POINTS: (SIGNED_IN, SIGNED_IN),
}
CODES = {
    "ok": None,
    "admin_ok": None,
    "unauth": "unauthenticated",
    "susp": "account_suspended",
    "blocked": "user_blocked",
    "forb": "forbidden",
    "ended": "stream_ended",
    "restr": "restricted",
    "not_owner": "not_owner",
}

#: Every socket event and HTTP operation, and the action it is authorized as (None: no caller to authorize).
EDGE_ACTIONS: dict[str, Action | None] = {
    "stream:join": Action.WATCH,
    "stream:leave": None,
    "chat:send": Action.CHAT,
    "like:send": Action.LIKE,
    "mod:action": Action.MODERATE,
    "report:send": Action.REPORT,
    "gift:send": Action.SEND_GIFT,
    "rtc:publish": Action.PUBLISH,
    "rtc:subscribe": Action.WATCH,
    "rtc:close": None,
    "rtc:layer": None,  # a simulcast choice for this connection's own viewer session (the session is the capability)
    "pk:invite": Action.PK_BATTLE,
    "pk:accept": Action.PK_BATTLE,
    "pk:decline": Action.PK_BATTLE,
    "pk:cancel": Action.PK_BATTLE,
    "pk:quit": Action.PK_BATTLE,
    "pk:match": Action.PK_BATTLE,
    "pk:match_cancel": Action.PK_BATTLE,
    "pk:state": Action.READ_ROOM,
    "POST /auth/register": Action.REGISTER,
    "POST /auth/login": Action.LOGIN,
    "POST /auth/refresh": Action.LOGIN,
    "POST /auth/logout": Action.LOGOUT,
    "GET /me": Action.MANAGE_SELF,
    "PATCH /me": Action.MANAGE_SELF,
    "GET /users/{user_id}": Action.READ_PROFILE,
    "POST /users/{user_id}/follow": Action.MANAGE_SELF,
    "DELETE /users/{user_id}/follow": Action.MANAGE_SELF,
    "POST /admin/users/{user_id}/role": Action.SET_ROLE,
    "POST /admin/users/{user_id}/suspension": Action.SET_SUSPENSION,
    "POST /admin/users/{user_id}/identity": Action.SET_IDENTITY,
    "POST /streams": Action.CREATE_STREAM,
    "GET /streams": Action.BROWSE_STREAMS,
    "GET /streams/following": Action.LIST_MY_STREAMS,
    "GET /streams/mine": Action.LIST_MY_STREAMS,
    "GET /streams/moderated": Action.LIST_MY_STREAMS,
    "GET /streams/{stream_id}": Action.BROWSE_STREAMS,
    "GET /streams/{stream_id}/thumbnail": Action.BROWSE_STREAMS,
    "PUT /streams/{stream_id}/transcoding": Action.SET_TRANSCODING,
    "GET /streams/{stream_id}/media": Action.READ_MODERATION,
    "POST /streams/{stream_id}/end": Action.END_STREAM,
    "POST /streams/{stream_id}/live": Action.GO_LIVE,
    "POST /streams/{stream_id}/key": Action.READ_STREAM_KEY,
    "POST /streams/{stream_id}/moderators": Action.NAME_MODERATOR,
    "DELETE /streams/{stream_id}/moderators": Action.NAME_MODERATOR,
    "GET /streams/{stream_id}/chat": Action.READ_ROOM,
    "GET /streams/{stream_id}/modlog": Action.READ_MODERATION,
    "POST /streams/{stream_id}/mod-actions": Action.MODERATE,
    "GET /streams/{stream_id}/reports": Action.READ_MODERATION,
    "POST /streams/{stream_id}/reports": Action.REPORT,
    "POST /streams/{stream_id}/reports/{report_id}/resolve": Action.RESOLVE_REPORT,
    "GET /streams/{stream_id}/room-settings": Action.READ_MODERATION,
    "GET /streams/{stream_id}/restrictions": Action.READ_MODERATION,
    "GET /streams/{stream_id}/viewers": Action.READ_ROOM,
    "GET /gifts": Action.BROWSE_GIFTS,
    "POST /admin/gifts": Action.EDIT_CATALOGUE,
    "PATCH /admin/gifts/{gift_id}": Action.EDIT_CATALOGUE,
    "POST /streams/{stream_id}/gifts": Action.SEND_GIFT,
    "GET /streams/{stream_id}/leaderboard": Action.READ_ROOM,
    "PUT /streams/{stream_id}/goal": Action.SET_GOAL,
    "GET /streams/{stream_id}/goal": Action.READ_ROOM,
    "DELETE /streams/{stream_id}/goal": Action.SET_GOAL,
    "overlay:join": Action.WATCH_OVERLAY,
    "GET /streams/{stream_id}/overlays": Action.MANAGE_OVERLAYS,
    "POST /streams/{stream_id}/overlays/rotate": Action.MANAGE_OVERLAYS,
    "POST /streams/{stream_id}/overlays/test-alert": Action.MANAGE_OVERLAYS,
    "POST /streams/{stream_id}/recordings": Action.RECORD_STREAM,
    "POST /streams/{stream_id}/recordings/stop": Action.STOP_RECORDING,
    "GET /users/{user_id}/recordings": Action.WATCH_RECORDING,
    "GET /recordings/{recording_id}": Action.WATCH_RECORDING,
    "GET /recordings/{recording_id}/media": Action.WATCH_RECORDING,
    "GET /me/recording-settings": Action.MANAGE_SELF,
    "PUT /me/recording-settings": Action.MANAGE_SELF,
    "DELETE /recordings/{recording_id}": Action.MANAGE_RECORDING,  # after the reads: it deletes the recording
    "GET /admin/users": Action.ADMINISTER_PLATFORM,
    "GET /admin/users/{user_id}": Action.ADMINISTER_PLATFORM,
    "GET /admin/reports": Action.ADMINISTER_PLATFORM,
    "POST /admin/reports/{report_id}/resolve": Action.ADMINISTER_PLATFORM,
    "POST /admin/streams/{stream_id}/takedown": Action.TAKE_DOWN_STREAM,
    "GET /admin/audit": Action.ADMINISTER_PLATFORM,
    "GET /wallet": Action.USE_WALLET,
    "GET /wallet/transactions": Action.USE_WALLET,
    "GET /wallet/coin-packs": Action.BROWSE_COIN_PACKS,
    "GET /cluster/nodes": Action.BROWSE_NODES,
    "POST /wallet/topups": Action.USE_WALLET,
    "GET /wallet/topups/{topup_id}": Action.USE_WALLET,
    "POST /wallet/cashouts": Action.USE_WALLET,
    "GET /wallet/cashouts": Action.USE_WALLET,
    "GET /admin/cashouts": Action.ADMINISTER_MONEY,
    "GET /admin/cashouts/{cashout_id}": Action.ADMINISTER_MONEY,
    "POST /admin/cashouts/{cashout_id}/approve": Action.ADMINISTER_MONEY,
    "POST /admin/cashouts/{cashout_id}/reject": Action.ADMINISTER_MONEY,
    "GET /admin/users/{user_id}/wallet": Action.ADMINISTER_MONEY,
    "POST /admin/wallet/adjustments": Action.ADMINISTER_MONEY,
    "POST /admin/users/{user_id}/wallet-freeze": Action.ADMINISTER_MONEY,
    "POST /admin/wallet/verify": Action.ADMINISTER_MONEY,
    "POST /whip/{stream_id}": Action.PUBLISH,
    "DELETE /whip/{stream_id}/{session_id}": None,  # the session URL is the capability
    "POST /whep/{stream_id}": Action.WATCH,
    "DELETE /whep/{stream_id}/{session_id}": None,
    "PATCH /whip/{stream_id}/{session_id}": None,  # trickle ICE: the session URL is the capability
    "PATCH /whep/{stream_id}/{session_id}": None,
    "POST /whep/{stream_id}/{session_id}/layer": None,  # the session URL is the capability
    "OPTIONS /whip/{stream_id}": None,  # what the endpoint accepts; no caller
    "OPTIONS /whip/{stream_id}/{session_id}": None,
    "OPTIONS /whep/{stream_id}": None,
    "OPTIONS /whep/{stream_id}/{session_id}": None,
    "POST /stripe/webhook": None,  # signed by Stripe, no caller
    "GET /notifications": Action.USE_NOTIFICATIONS,
    "POST /notifications/read": Action.USE_NOTIFICATIONS,
    "GET /notifications/mutes": Action.USE_NOTIFICATIONS,
    "PUT /notifications/mutes/{user_id}": Action.USE_NOTIFICATIONS,
    "DELETE /notifications/mutes/{user_id}": Action.USE_NOTIFICATIONS,
    "GET /notifications/push/key": Action.USE_NOTIFICATIONS,
    "POST /notifications/push/subscriptions": Action.USE_NOTIFICATIONS,
    "DELETE /notifications/push/subscriptions": Action.USE_NOTIFICATIONS,
    "GET /subscriptions/tiers": Action.BROWSE_SUBSCRIPTIONS,
    "GET /channels/{user_id}/emotes": Action.BROWSE_SUBSCRIPTIONS,
    "GET /emotes/{emote_id}": Action.BROWSE_SUBSCRIPTIONS,
    "POST /channels/{user_id}/subscription": Action.SUBSCRIBE,
    "GET /channels/{user_id}/subscription": Action.SUBSCRIBE,
    "POST /channels/{user_id}/subscription/cancel": Action.SUBSCRIBE,
    "POST /channels/{user_id}/subscription/tier": Action.SUBSCRIBE,
    "POST /channels/{user_id}/subscription/resume": Action.SUBSCRIBE,
    "GET /me/subscriptions": Action.SUBSCRIBE,
    "POST /channels/{user_id}/subscription-gifts": Action.GIFT_SUBSCRIPTION,
    "POST /me/emotes": Action.MANAGE_EMOTES,
    "DELETE /me/emotes/{emote_id}": Action.MANAGE_EMOTES,
    "GET /streams/{stream_id}/rewards": Action.BROWSE_REWARDS,
    "POST /streams/{stream_id}/rewards": Action.MANAGE_REWARDS,
    "PATCH /streams/{stream_id}/rewards/{reward_id}": Action.MANAGE_REWARDS,
    "DELETE /streams/{stream_id}/rewards/{reward_id}": Action.MANAGE_REWARDS,
    "POST /streams/{stream_id}/rewards/{reward_id}/redeem": Action.REDEEM_REWARD,
    "GET /streams/{stream_id}/redemptions": Action.HANDLE_REDEMPTIONS,
    "POST /streams/{stream_id}/redemptions/{redemption_id}/fulfil": Action.HANDLE_REDEMPTIONS,
    "POST /streams/{stream_id}/redemptions/{redemption_id}/refund": Action.HANDLE_REDEMPTIONS,
    "GET /me/points": Action.USE_POINTS,
    "GET /users/{user_id}/achievements": Action.READ_PROFILE,
}


def _rows() -> list[tuple[Action, StreamStatus, str, str]]:
    out = []
    for action, (open_row, ended_row) in TABLE.items():
        by_status = ((StreamStatus.CREATED, open_row), (StreamStatus.LIVE, open_row), (StreamStatus.ENDED, ended_row))
        for status, row in by_status:
            cells = row.split()
            assert len(cells) == len(COLUMNS), action
            out.extend((action, status, persona, cell) for persona, cell in zip(COLUMNS, cells, strict=True))
    return out


@pytest.mark.parametrize(("action", "status", "persona", "expected"), _rows())
def test_the_policy_table(action: Action, status: StreamStatus, persona: str, expected: str) -> None:
    who, standing = PERSONAS[persona]
    room = Room(OWNER, status, frozenset({MOD}), standing)
    error = decide(action, who, room)
    assert (error.code if error else None) == CODES[expected], (action, status, persona)


def test_the_table_covers_every_action() -> None:
    assert set(TABLE) == set(Action) == set(REQUIREMENTS)


def test_every_socket_event_and_http_operation_is_mapped_to_an_action() -> None:
    from mobile_api.app import build_api

    load()
    edges = set(registry.names) | {f"{ep.method} {ep.path}" for ep in build_api().endpoints}
    assert edges == set(EDGE_ACTIONS)
    assert {a for a in EDGE_ACTIONS.values() if a is not None} == set(Action)


def test_a_restriction_names_its_kind_and_end() -> None:
    who, standing = PERSONAS["timed_out"]
    error = decide(Action.CHAT, who, Room(OWNER, StreamStatus.LIVE, frozenset(), standing))
    assert error is not None and error.to_dict()["kind"] == "timeout" and error.to_dict()["until"].startswith("2030")


def test_an_admin_owning_a_stream_is_its_owner() -> None:
    me = Principal(UserId("u-admin"), Role.ADMIN, "s")
    room = Room(me.user_id, StreamStatus.LIVE)
    for action in (Action.PUBLISH, Action.NAME_MODERATOR, Action.READ_STREAM_KEY, Action.SET_GOAL):
        assert decide(action, me, room) is None, action
