"""Response bodies of the HTTP API, as the handlers build them. The OpenAPI document publishes these (clients are
generated from it), and ``tests/integration/test_openapi_contract.py`` checks every success body of every
operation against its model, so a field added to a handler without its model here fails the suite.

Models forbid unknown fields unless the body is documented as open (moderation log entries carry the action's
own fields).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.vocabulary import RecordingState, StreamStatus

Role = Literal["viewer", "streamer", "moderator", "admin"]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenOut(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- accounts ----------------------------------------------------------------------------------------------------


class UserOut(Out):
    """A public profile."""

    id: str
    nickname: str
    role: Role
    bio: str
    avatar_url: str | None
    created_at: datetime


class ProfileOut(UserOut):
    followers: int
    following: int


class MeOut(UserOut):
    """What a user sees of their own account."""

    email: str
    phone: str | None
    identity_verified: bool


class AdminUserOut(MeOut):
    suspended: bool


class AdminUserList(Out):
    items: list[AdminUserOut]


class AuditActorOut(Out):
    id: str
    nickname: str


class AuditTargetOut(Out):
    kind: Literal["user", "stream", "cashout", "gift", "report"]
    id: str


class AdminAuditEntryOut(Out):
    id: str
    at: datetime
    actor: AuditActorOut
    action: Literal[
        "role", "suspension", "identity", "freeze", "adjustment", "cashout", "catalogue", "report", "takedown"
    ]
    target: AuditTargetOut
    reason: str
    details: dict[str, Any]


class AuditPage(Out):
    items: list[AdminAuditEntryOut]
    next_cursor: str | None


class TokensOut(Out):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until the access token expires")


class SessionOut(TokensOut):
    user: MeOut


# -- streams -----------------------------------------------------------------------------------------------------


class StreamStatsOut(Out):
    peak_viewers: int
    likes: int
    gifts_coins: int
    gifts_beans: int
    duration_s: int


class StreamOut(Out):
    id: str
    owner_id: str
    title: str
    category: str | None
    tags: list[str]
    status: StreamStatus
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    moderators: list[str]
    stats: StreamStatsOut
    viewers: int | None = Field(
        default=None, description="in the directory, for live streams: viewers on every node (WHEP included)"
    )
    thumbnail_url: str | None = Field(
        default=None,
        description="in the directory, for live streams with a picture: its path (GET, image/jpeg or image/webp); "
        "the query changes with each new picture",
    )


class StreamWithKeyOut(StreamOut):
    stream_key: str = Field(description="the WHIP bearer token; secret")
    transcode_ladder: bool = Field(default=False, description="the transcoded-ladder option (PUT .../transcoding)")


class StreamViewOut(StreamOut):
    stream_key: str | None = Field(default=None, description="present for the stream's owner only")
    transcode_ladder: bool | None = Field(default=None, description="the transcoded-ladder option; owner only")


class StreamPage(Out):
    items: list[StreamOut]
    next_cursor: str | None


class MyStreamsPage(Out):
    items: list[StreamWithKeyOut]
    next_cursor: str | None


# -- rooms -------------------------------------------------------------------------------------------------------


class ChatUserOut(Out):
    id: str
    nickname: str
    badges: list[str]
    sub_months: int | None = Field(default=None, description="the subscriber badge's months (subscribers only)")


class MentionOut(Out):
    user_id: str
    nickname: str


class EmoteUseOut(Out):
    code: str
    url: str


class ChatMessageOut(Out):
    id: str
    stream_id: str
    user: ChatUserOut
    text: str
    mentions: list[MentionOut]
    client_id: str | None
    at: datetime
    emotes: list[EmoteUseOut] | None = Field(default=None, description="the channel's emotes the text shows")
    highlighted: bool | None = Field(default=None, description="true: bought with channel points (highlight)")
    deleted: bool | None = Field(default=None, description="with include_removed only")
    cleared: bool | None = Field(default=None, description="with include_removed only")


class ChatPage(Out):
    items: list[ChatMessageOut]
    next_cursor: str | None


class LogEntryOut(OpenOut):
    """A moderation-log entry, report or restriction; each action adds its own fields."""

    id: str
    stream_id: str | None = None
    at: datetime | None = None


class LogPage(Out):
    items: list[LogEntryOut]
    next_cursor: str | None


class ChatLimitsOut(Out):
    slow_s: int
    followers_only_min_s: int | None
    min_account_age_s: int


class RoomSettingsOut(Out):
    stream_id: str
    slow_s: int
    followers_only: bool
    followers_only_min_s: int | None
    min_account_age_s: int
    shield: bool
    subscribers_only: bool = False
    base: ChatLimitsOut = Field(description="the settings without shield mode")
    blocked_terms: list[str]
    shield_preset: ChatLimitsOut
    top_gifters: list[str]


class ModActionOut(OpenOut):
    """The log entry of the action plus what it changed (``settings``, ``restriction``, ``user_id``, ...)."""

    entry: LogEntryOut


class ViewersOut(Out):
    count: int
    likes: int
    users: list[UserOut] | None = Field(default=None, description="for the room's moderators only")
    guests: int | None = Field(default=None, description="for the room's moderators only")


class MediaLayerOut(Out):
    rid: str | None = Field(description="the simulcast layer's rid (null: a publisher sending one layer)")
    width: int
    height: int
    bitrate_bps: int
    switches_in: int = Field(description="viewers moved onto this layer so far")
    consumers: int = Field(description="viewers (and relay pipes) fed by this layer now")


class MediaViewerOut(Out):
    session_id: str | None
    layer: str | None = Field(description="the layer this viewer receives now (null: waiting, or audio only)")
    preference: str | None = Field(description="auto, high, medium or low")
    paused: bool = Field(description="audio only: no layer fits its estimate")
    switches: int = Field(description="layer switches so far")
    estimate_bps: int | None = Field(description="the bandwidth estimate its layer is capped by (null: none yet)")
    estimator: str | None = Field(description="transport_cc (GCC on its feedback) or receiver_reports (loss, REMB)")
    estimator_state: dict[str, Any] | None
    fraction_lost: float | None
    rtt_s: float | None


class MediaPipeTrackOut(Out):
    ssrc: int
    kind: str
    rid: str | None
    packets: int = Field(description="packets this track carried to the far node or worker")
    bytes: int
    parked: bool = Field(description="not carried now: nobody on the far side is on this layer")
    flowing: bool


class MediaPipeOut(Out):
    id: str | None
    connected: bool | None
    tracks: list[MediaPipeTrackOut]


class MediaOut(Out):
    stream_id: str
    layers: list[MediaLayerOut]
    viewers: list[MediaViewerOut] = Field(description="this node's viewers of the stream (at most 200)")
    viewers_total: int
    viewers_summed: bool = Field(description="SFU workers report sums only: no per-viewer list")
    pipes: list[MediaPipeOut] = Field(description="relay pipes from this node to others, per layer")
    relay: dict[str, Any] | None = Field(description="this node pulls the stream from another: the layers it asks")


# -- cluster -----------------------------------------------------------------------------------------------------


class NodeOut(Out):
    node_id: str
    url: str = Field(description="The node's public base URL: connect the socket there and subscribe again")
    has_room: bool = Field(description="Below its viewer capacity as of its last heartbeat")


class NodeListOut(Out):
    node_id: str = Field(description="The node that answered")
    nodes: list[NodeOut] = Field(description="Every live node, this one included, best first")


# -- gifts -------------------------------------------------------------------------------------------------------


class EffectOut(Out):
    animation: str
    duration_ms: int
    fullscreen: bool


class GiftOut(Out):
    id: str
    names: dict[str, str] = Field(description="language code to name")
    coins: int
    beans: int
    rarity: Literal["common", "rare", "epic", "legendary"]
    effect: EffectOut
    combo: bool
    kind: str
    active: bool
    version: int


class GiftList(Out):
    items: list[GiftOut]


class GiftAckOut(Out):
    transfer_id: str
    gift_id: str
    count: int
    combo: int
    coins_spent: int
    balance: int = Field(description="the sender's coins right after this gift")


class LeaderRowOut(Out):
    rank: int
    user_id: str
    nickname: str | None
    coins: int


class LeaderboardOut(Out):
    stream_id: str
    live: list[LeaderRowOut]
    all_time: list[LeaderRowOut]


class GoalOut(Out):
    stream_id: str
    kind: Literal["beans", "gift"]
    target: int
    progress: int
    raw_progress: int
    gift_id: str | None
    title: str
    reached: bool


# -- overlays ----------------------------------------------------------------------------------------------------


class OverlayOut(Out):
    kind: Literal["alerts", "goal", "chat", "top"]
    path: str = Field(description="the page with the key in its fragment; prefix the hub's origin for OBS")
    width: int
    height: int


class OverlayLinksOut(Out):
    stream_id: str
    key: str = Field(description="the overlay key: read-only access to this stream's room; rotate it if it leaks")
    overlays: list[OverlayOut]


class TestAlertOut(Out):
    alert: dict[str, Any] = Field(description="the gift:received payload sent to the overlays (test: true)")


# -- recordings --------------------------------------------------------------------------------------------------


class RecordingSegmentOut(Out):
    index: int
    start_s: float = Field(description="the segment's first frame on the recording's timeline")
    duration_s: float
    size_bytes: int
    video_frames: int
    audio_frames: int


class RecordingOut(Out):
    id: str
    stream_id: str
    streamer_id: str
    title: str
    state: RecordingState
    started_at: str
    ended_at: str | None
    duration_s: float
    size_bytes: int
    media_type: str = Field(description="video/webm (VP8/Opus) or video/mp4 (H.264/Opus)")
    media_url: str | None = Field(description="the playable, seekable file (Range requests), once ready")
    segments: list[RecordingSegmentOut] = Field(description="finished segments (while recording or finishing)")
    stop_reason: str | None


class RecordingListOut(Out):
    items: list[RecordingOut]


class AutoRecordOut(Out):
    auto_record: bool = Field(description="record every time this streamer goes live")


# -- wallet ------------------------------------------------------------------------------------------------------


class BalancesOut(Out):
    coins: int
    beans: int
    beans_held: int
    beans_cashout: int
    frozen: bool
    debt: int


class WalletOut(BalancesOut):
    cashout_minimum_beans: int


class LegOut(Out):
    account: str
    currency: Literal["coins", "beans"]
    amount: int


class TransferOut(Out):
    id: str
    kind: str
    state: str
    created_at: datetime
    legs: list[LegOut]
    refs: dict[str, Any]
    error: str | None


class TransferPage(Out):
    items: list[TransferOut]
    next_cursor: str | None


class CoinPackOut(Out):
    id: str
    coins: int
    price_cents: int
    currency: str


class CoinPackList(Out):
    items: list[CoinPackOut]


class TopUpCreatedOut(Out):
    topup_id: str
    method: Literal["checkout", "payment_intent"]
    pack: CoinPackOut
    status: str
    checkout_url: str | None = Field(default=None, description="checkout: where to send the buyer")
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    client_secret: str | None = Field(default=None, description="payment_intent: for the Stripe mobile SDK")


class TopUpOut(Out):
    id: str
    pack_id: str | None
    coins: int | None
    price_cents: int | None
    currency: str | None
    method: str | None
    status: str | None
    reversed_coins: int | None


class CashoutOut(Out):
    id: str
    user_id: str
    beans: int
    status: str
    created_at: datetime
    decided_by: str | None
    note: str | None


class CashoutPage(Out):
    items: list[CashoutOut]
    next_cursor: str | None


class AuditEntryOut(OpenOut):
    action: str
    actor: str
    at: datetime


class CashoutAuditOut(CashoutOut):
    audit: list[AuditEntryOut]


class IdentityOut(Out):
    user_id: str
    identity_verified: bool


class WebhookAckOut(Out):
    received: bool
    duplicate: bool | None = None
    outcome: str | None = None
