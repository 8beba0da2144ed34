"""Moderation, modelled on Twitch: who may do what to whom, the actions, the append-only log, reports.

Who may moderate at all (and end a stream) is ``app.policy``'s to decide; the use case asks it before calling here.
What stays here is whom an action may touch: nobody acts on themself or on someone of equal or higher rank in the
room (``target_protected``). Each action applies the change, appends a log entry,
tells the moderators (``mod:event``), the room (``chat:deleted``, ``chat:cleared``, ``room:settings``)
and the target (``you:restricted``) on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from accounts.models import Principal
from accounts.service import AccountService
from core.clock import Clock, as_utc
from core.errors import ForbiddenError, InvalidInputError, NotFoundError, RateLimitedError
from core.events import EventBus, UserRestricted
from core.ids import StreamId, UserId, new_id
from core.pagination import Page, clamp_limit
from core.ratelimit import Rate, RateLimiter
from core.text import REASON, RESOLUTION, TextRule
from rooms.access import RANK, role_of_user, room_role
from rooms.chat import ChatService, decode_page_cursor, page_cursor
from rooms.chat_models import (
    FOLLOW_AGE_MAX_S,
    SLOW_MAX_S,
    SLOW_MIN_S,
    ModAction,
    ReportStatus,
    RoomRole,
    RoomSettings,
    ShieldPreset,
    log_entry_to_dict,
)
from rooms.models import Stream
from rooms.store_chat import ChatStore
from rooms.streams import StreamService
from rooms.terms import TERMS_MAX, normalize_term

TIMEOUT_MIN_S, TIMEOUT_MAX_S = 1, 14 * 24 * 3600
REASON_MAX = REASON.max_chars
REPORT_RATE = Rate(burst=3, per_second=1 / 60)
ACTION_RATE = Rate(burst=30, per_second=2.0)


@dataclass(frozen=True, slots=True)
class ModRequest:
    action: ModAction
    target_user_id: UserId | None = None
    message_id: str | None = None
    duration_s: int | None = None
    value: Any = None
    reason: str = ""


def _reason(reason: str | None, rule: TextRule = REASON) -> str:
    return rule.clean(reason or "")


class ModerationService:
    def __init__(
        self,
        store: ChatStore,
        chat: ChatService,
        streams: StreamService,
        accounts: AccountService,
        limiter: RateLimiter,
        clock: Clock,
        events: EventBus,
    ) -> None:
        self._store = store
        self._chat = chat
        self._streams = streams
        self._accounts = accounts
        self._limiter = limiter
        self._clock = clock
        self._events = events

    @property
    def _notify(self) -> Any:
        return self._chat.notifier

    async def act(self, stream_id: StreamId, actor: Principal, req: ModRequest) -> dict[str, Any]:
        """One action by ``actor`` (allowed by the policy: ``moderate``, or ``end_stream`` for ending)."""
        stream = await self._streams.get(stream_id)
        role = room_role(stream, actor)  # the actor's rank, against the target's
        wait = await self._limiter.hit(f"mod:{actor.user_id}", ACTION_RATE)
        if wait:
            raise RateLimitedError("too many moderation actions", retry_after_s=wait)
        reason = _reason(req.reason)
        a = req.action
        result: dict[str, Any] = {}
        log: dict[str, Any] = {}
        if a is ModAction.DELETE:
            result = await self._delete(stream, actor, req)
        elif a in (ModAction.TIMEOUT, ModAction.BAN):
            result = await self._restrict(stream, role, actor, req, reason)
        elif a is ModAction.UNBAN:
            result = await self._unban(stream, role, actor, req)
        elif a is ModAction.CLEAR:
            await self._store.mark_cleared(stream.id, self._clock.now())
            await self._chat.rebuild_recent(stream.id)
            await self._notify.to_room(stream.id, "chat:cleared", {"stream_id": stream.id})
        elif a is ModAction.END_STREAM:
            reason_code = "ended_by_owner" if role is RoomRole.OWNER else "ended_by_staff"
            ended = await self._streams.end(stream.id, reason=reason_code)
            self._chat.forget_room(stream.id)
            result = {"stream": ended.to_public()}
        else:
            settings, log = await self._change_settings(stream, req)
            result = {"settings": settings.to_moderator()}
            await self._notify.to_room(stream.id, "room:settings", settings.to_public())
        entry = await self._append_log(stream, actor, req, reason, log)
        await self._notify.to_moderators(stream.id, "mod:event", {"type": "action", "entry": entry})
        return {"entry": entry, **result}

    async def _target(self, stream: Stream, role: RoomRole, actor: Principal, req: ModRequest) -> UserId:
        if not req.target_user_id:
            raise InvalidInputError(f"{req.action.value} needs target_user_id", field="target_user_id")
        if req.target_user_id == actor.user_id:
            raise InvalidInputError("you cannot do this to yourself", field="target_user_id")
        target = await self._accounts.get_user(req.target_user_id)
        target_role = role_of_user(stream, target.id, target.role)
        if RANK[target_role] >= RANK[role]:
            raise ForbiddenError(f"you cannot {req.action.value} a {target_role.value}", code="target_protected")
        return target.id

    async def _delete(self, stream: Stream, actor: Principal, req: ModRequest) -> dict[str, Any]:
        if not req.message_id:
            raise InvalidInputError("delete needs message_id", field="message_id")
        doc = await self._store.get_message(req.message_id)
        if doc is None or doc["stream_id"] != stream.id:
            raise NotFoundError("no such message in this room", code="message_not_found")
        author = await self._accounts.get_user(UserId(doc["user_id"]))
        actor_role = room_role(stream, actor)
        if doc["user_id"] != actor.user_id and RANK[role_of_user(stream, author.id, author.role)] >= RANK[actor_role]:
            raise ForbiddenError("you cannot delete this person's messages", code="target_protected")
        await self._store.mark_deleted(req.message_id, stream.id, actor.user_id, self._clock.now())
        await self._chat.rebuild_recent(stream.id)
        await self._notify.to_room(stream.id, "chat:deleted", {"stream_id": stream.id, "message_id": req.message_id})
        return {"message_id": req.message_id}

    async def _restrict(
        self, stream: Stream, role: RoomRole, actor: Principal, req: ModRequest, reason: str
    ) -> dict[str, Any]:
        target = await self._target(stream, role, actor, req)
        now = self._clock.now()
        until = None
        if req.action is ModAction.TIMEOUT:
            if req.duration_s is None or not TIMEOUT_MIN_S <= req.duration_s <= TIMEOUT_MAX_S:
                raise InvalidInputError(
                    f"a timeout lasts {TIMEOUT_MIN_S} s to {TIMEOUT_MAX_S} s (14 days)", field="duration_s"
                )
            until = now + timedelta(seconds=req.duration_s)
        kind = req.action.value
        await self._store.put_restriction(
            stream.owner_id,
            target,
            {
                "owner_id": stream.owner_id,
                "user_id": target,
                "kind": kind,
                "until": until,
                "reason": reason,
                "by": actor.user_id,
                "stream_id": stream.id,
                "at": now,
            },
        )
        payload = {"stream_id": stream.id, "kind": kind, "until": until.isoformat() if until else None}
        if reason:
            payload["reason"] = reason
        await self._notify.to_user(target, "you:restricted", payload)
        await self._events.publish(UserRestricted(stream.id, target, kind, until))
        return {"restriction": payload | {"user_id": target}}

    async def _unban(self, stream: Stream, role: RoomRole, actor: Principal, req: ModRequest) -> dict[str, Any]:
        target = await self._target(stream, role, actor, req)
        removed = await self._store.delete_restriction(stream.owner_id, target)
        if not removed:
            raise NotFoundError("this user is not timed out or banned here", code="not_restricted")
        await self._notify.to_user(target, "you:restricted", {"stream_id": stream.id, "kind": "none", "until": None})
        return {"user_id": target}

    async def _change_settings(self, stream: Stream, req: ModRequest) -> tuple[RoomSettings, dict[str, Any]]:
        a, v = req.action, req.value
        if a is ModAction.SLOW:
            if v in (None, False, 0):
                doc = await self._store.set_settings(stream.id, slow_s=0)
            elif isinstance(v, int) and not isinstance(v, bool) and SLOW_MIN_S <= v <= SLOW_MAX_S:
                doc = await self._store.set_settings(stream.id, slow_s=v)
            else:
                raise InvalidInputError(
                    f"slow mode takes {SLOW_MIN_S}-{SLOW_MAX_S} seconds, or 0 for off", field="value"
                )
        elif a is ModAction.FOLLOWERS_ONLY:
            if v is None or v is False:
                doc = await self._store.set_settings(stream.id, followers_only_min_s=None)
            elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= FOLLOW_AGE_MAX_S:
                doc = await self._store.set_settings(stream.id, followers_only_min_s=v)
            else:
                raise InvalidInputError(
                    "followers-only takes a minimum follow age in seconds (0-90 days), or null for off", field="value"
                )
        elif a is ModAction.SUBSCRIBERS_ONLY:
            if not isinstance(v, bool):
                raise InvalidInputError("subscribers_only takes true or false", field="value")
            doc = await self._store.set_settings(stream.id, subscribers_only=v)
        elif a is ModAction.BLOCK_TERM:
            term = normalize_term(v) if isinstance(v, str) else None
            if term is None:
                raise InvalidInputError("block_term takes the term as value", field="value")
            current = await self._chat.settings(stream.id)
            if len(current.blocked_terms) >= TERMS_MAX and term not in current.blocked_terms:
                raise InvalidInputError(f"at most {TERMS_MAX} blocked terms", field="value")
            doc = await self._store.add_blocked_term(stream.id, term)
        elif a is ModAction.UNBLOCK_TERM:
            if not isinstance(v, str):
                raise InvalidInputError("unblock_term takes the term as value", field="value")
            doc = await self._store.remove_blocked_term(stream.id, normalize_term(v))
        elif a is ModAction.SHIELD:
            doc = await self._store.set_settings(stream.id, **self._shield_update(v))
        else:  # pragma: no cover - the enum is exhaustive
            raise InvalidInputError("unknown action", field="action")
        self._chat.forget_room(stream.id)
        return RoomSettings.from_doc(stream.id, doc), {"value": v}

    @staticmethod
    def _shield_update(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"shield": v}
        if isinstance(v, dict) and isinstance(v.get("enabled"), bool):
            out: dict[str, Any] = {"shield": v["enabled"]}
            preset = v.get("preset")
            if preset is not None:
                if not isinstance(preset, dict):
                    raise InvalidInputError("preset must be an object", field="value.preset")
                try:
                    out["shield_preset"] = ShieldPreset.from_dict(preset).to_dict()
                except (TypeError, ValueError):
                    raise InvalidInputError("preset values must be integers", field="value.preset") from None
            return out
        raise InvalidInputError("shield takes true/false or {enabled, preset?}", field="value")

    async def _append_log(
        self, stream: Stream, actor: Principal, req: ModRequest, reason: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_id": new_id(),
            "stream_id": stream.id,
            "owner_id": stream.owner_id,
            "actor_id": actor.user_id,
            "action": req.action.value,
            "target_user_id": req.target_user_id,
            "message_id": req.message_id,
            "duration_s": req.duration_s,
            "reason": reason,
            "at": self._clock.now(),
            **extra,
        }
        await self._store.append_log(doc)
        return log_entry_to_dict(doc)

    # Reading
    async def modlog(self, stream_id: StreamId, *, cursor: str | None, limit: int | None) -> Page:
        n = clamp_limit(limit, default=50)
        docs = await self._store.page_log(stream_id, decode_page_cursor(cursor), n + 1)
        return Page([log_entry_to_dict(d) for d in docs[:n]], page_cursor(docs, n))

    async def room_settings(self, stream_id: StreamId) -> dict[str, Any]:
        return (await self._chat.settings(stream_id)).to_moderator()

    async def restrictions(self, stream_id: StreamId) -> list[dict[str, Any]]:
        stream = await self._streams.get(stream_id)
        now = self._clock.now()
        out = []
        for doc in await self._store.list_restrictions(stream.owner_id, 500):
            entry = log_entry_to_dict(doc)
            until = doc.get("until")
            if until is not None and as_utc(until) <= now:
                continue
            out.append(entry)
        return out

    # Reports
    async def report(
        self,
        stream_id: StreamId,
        reporter: Principal,
        *,
        reason: str,
        message_id: str | None = None,
        target_user_id: UserId | None = None,
    ) -> dict[str, Any]:
        text = _reason(reason)
        if not text:
            raise InvalidInputError("say why you report this", field="reason")
        if not message_id and not target_user_id:
            raise InvalidInputError("report a message_id or a target_user_id", field="target_user_id")
        stream = await self._streams.get(stream_id)
        wait = await self._limiter.hit(f"report:{reporter.user_id}", REPORT_RATE)
        if wait:
            raise RateLimitedError("you have sent many reports; wait a little", retry_after_s=wait)
        snapshot: dict[str, Any] | None = None
        if message_id:
            doc = await self._store.get_message(message_id)
            if doc is None or doc["stream_id"] != stream.id:
                raise NotFoundError("no such message in this room", code="message_not_found")
            target_user_id = target_user_id or UserId(doc["user_id"])
            snapshot = {"text": doc["text"], "nickname": doc["nickname"], "at": doc["at"].isoformat()}
        assert target_user_id is not None
        await self._accounts.get_user(target_user_id)
        doc = {
            "_id": new_id(),
            "stream_id": stream.id,
            "owner_id": stream.owner_id,
            "reporter_id": reporter.user_id,
            "target_user_id": target_user_id,
            "message_id": message_id,
            "message": snapshot,
            "reason": text,
            "status": ReportStatus.OPEN.value,
            "at": self._clock.now(),
        }
        await self._store.insert_report(doc)
        report = log_entry_to_dict(doc)
        await self._notify.to_moderators(stream.id, "mod:event", {"type": "report", "report": report})
        return report

    async def reports(
        self,
        stream_id: StreamId | None,
        *,
        status: ReportStatus | str | None,
        cursor: str | None,
        limit: int | None,
    ) -> Page:
        wanted = None
        if status is not None:
            try:
                wanted = ReportStatus(status)
            except ValueError:
                raise InvalidInputError(f"no report status {status!r}", field="status") from None
        n = clamp_limit(limit, default=50)
        docs = await self._store.page_reports(stream_id, wanted, decode_page_cursor(cursor), n + 1)
        return Page([log_entry_to_dict(d) for d in docs[:n]], page_cursor(docs, n))

    async def report_stream(self, report_id: str) -> StreamId:
        """The stream a report was made in (``report_not_found``)."""
        doc = await self._store.get_report(report_id)
        if doc is None:
            raise NotFoundError("no such report", code="report_not_found")
        return StreamId(doc["stream_id"])

    async def resolve_report(
        self, stream_id: StreamId, resolver: UserId, report_id: str, resolution: str
    ) -> dict[str, Any]:
        stream = await self._streams.get(stream_id)
        doc = await self._store.resolve_report(
            stream.id, report_id, resolver, self._clock.now(), _reason(resolution, RESOLUTION)
        )
        if doc is None:
            raise NotFoundError("no such report", code="report_not_found")
        report = log_entry_to_dict(doc)
        await self._notify.to_moderators(stream.id, "mod:event", {"type": "report_resolved", "report": report})
        return report
