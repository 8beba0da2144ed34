"""The admin console's own routes (admins only): find users, the platform-wide report queue, take a stream down, the
audit trail. Roles, suspensions, identity, coins, cash-outs and the catalogue have their routes in ``users``,
``wallet`` and ``gifts`` (each writes the audit trail too)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.text_fields import Reason, Resolution
from app.vocabulary import ReportStatus
from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import AdminUserList, AdminUserOut, AuditPage, LogEntryOut, LogPage, StreamOut

api = Api()
TAGS = ("admin",)


class UsersQuery(Query):
    q: str = Field(default="", max_length=100, description="a nickname or email prefix (any case), or a user id")
    limit: int = Field(default=20, ge=1, le=100)


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class PlatformReportsQuery(PageQuery):
    status: ReportStatus | None = ReportStatus.OPEN


class AuditQuery(PageQuery):
    target: str | None = Field(default=None, max_length=64, description="only actions on this user, stream, ...")


class ResolveBody(Body):
    resolution: Resolution | None = None


class TakedownBody(Body):
    reason: Reason = Field(description="why: kept in the audit trail")


@api.route(
    "GET",
    "/admin/users",
    summary="Find users (admin)",
    tags=TAGS,
    query=UsersQuery,
    responses={403: "admins only"},
    response=AdminUserList,
)
async def admin_users(call: Call) -> dict[str, Any]:
    q = call.query_as(UsersQuery)
    return {"items": await call.ctx.use.admin_console.users(call.principal, q.q, q.limit)}


@api.route(
    "GET",
    "/admin/users/{user_id}",
    summary="One user as admins see them",
    tags=TAGS,
    responses={403: "admins only", 404: "no such user"},
    response=AdminUserOut,
)
async def admin_user(call: Call) -> dict[str, Any]:
    return await call.ctx.use.admin_console.user(call.principal, UserId(call.path["user_id"]))


@api.route(
    "GET",
    "/admin/reports",
    summary="Every stream's reports, newest first (admin; default open ones)",
    tags=TAGS,
    query=PlatformReportsQuery,
    responses={403: "admins only"},
    response=LogPage,
)
async def admin_reports(call: Call) -> dict[str, Any]:
    q = call.query_as(PlatformReportsQuery)
    page = await call.ctx.use.admin_console.reports(call.principal, q.status, q.cursor, q.limit)
    return page.to_dict()


@api.route(
    "POST",
    "/admin/reports/{report_id}/resolve",
    summary="Mark a report handled (admin), from the platform queue",
    tags=TAGS,
    body=ResolveBody,
    responses={403: "admins only", 404: "no such report"},
    response=LogEntryOut,
)
async def admin_resolve_report(call: Call) -> dict[str, Any]:
    b = call.body_as(ResolveBody)
    return await call.ctx.use.admin_console.resolve_report(call.principal, call.path["report_id"], b.resolution or "")


@api.route(
    "POST",
    "/admin/streams/{stream_id}/takedown",
    summary="Take a stream down (admin): it ends at once (stream:ended reason taken_down); the why is recorded",
    tags=TAGS,
    body=TakedownBody,
    responses={403: "admins only", 404: "no such stream"},
    response=StreamOut,
)
async def take_down_stream(call: Call) -> dict[str, Any]:
    b = call.body_as(TakedownBody)
    stream = await call.ctx.use.admin_console.take_down(call.principal, StreamId(call.path["stream_id"]), b.reason)
    return stream.to_public()


@api.route(
    "GET",
    "/admin/audit",
    summary="The audit trail of every admin action, newest first: who, when, what, on whom, why",
    tags=TAGS,
    query=AuditQuery,
    responses={403: "admins only"},
    response=AuditPage,
)
async def admin_audit(call: Call) -> dict[str, Any]:
    q = call.query_as(AuditQuery)
    page = await call.ctx.use.admin_console.audit_trail(call.principal, q.target, q.cursor, q.limit)
    return page.to_dict()
