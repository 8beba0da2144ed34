"""WHIP (RFC 9725) and WHEP: publish and watch over one HTTP POST each, SDP in and SDP out.

- ``POST /whip/{stream_id}`` with ``Authorization: Bearer <stream key>`` and an SDP offer → 201, ``Location`` of
  the session, ``ETag`` of its ICE session, the answer. A wrong key is 401; a second publisher is 409.
- ``POST /whep/{stream_id}`` with an offer → 201 and the answer; 404 if the stream is not live.
- ``PATCH`` on a session with an ``application/trickle-ice-sdpfrag`` body adds the client's trickled candidates
  (204). An ICE restart (new credentials in the fragment) is 422: aiortc cannot restart ICE (docs/protocol.md).
- ``DELETE`` on a session ends it whatever its peer's state (a publisher's stream ends at once); a second
  ``DELETE`` is 404.
- ``OPTIONS`` on an endpoint or a session answers ``Allow`` (and ``Accept-Post`` / ``Accept-Patch``); CORS
  preflights are answered by the app's CORS middleware (``HUB_CORS_ORIGINS``).

The SFU's own answer carries all its candidates (aiortc gathers before answering; it never trickles). STUN/TURN
servers go to the client in ``Link: rel="ice-server"`` headers (section 4.6). No business logic here: HTTP in and
out around ``app.streaming.GoingLive`` (the same use case as ``rtc:publish`` / ``rtc:subscribe``), which checks the
key and the policy and drives the SFU.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from starlette.responses import Response

from app.vocabulary import InvalidSdpError, NodeFullError
from core.errors import HubError, InvalidInputError, UnauthenticatedError
from core.ids import StreamId
from mobile_api.routing import Api, Body, Call, Query, bearer_token, read_limited
from mobile_api.schemas import Out

api = Api()

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
#: Offers are a few kilobytes; the SFU also enforces its own limit.
MAX_OFFER_BYTES = 64 * 1024
#: A trickle fragment is a few candidates.
MAX_FRAGMENT_BYTES = 16 * 1024
#: What the endpoints and the sessions allow (``Allow``). CORS preflights allow the same methods (hub/app.py).
ENDPOINT_METHODS = "OPTIONS, POST"
SESSION_METHODS = "OPTIONS, PATCH, DELETE"
#: Sent on OPTIONS responses as well: some WHIP clients (Eyevinn's whip-web-client) decide whether to trickle by
#: looking for PATCH in this header of the endpoint's OPTIONS response.
CORS_METHODS = "OPTIONS, POST, PATCH, DELETE"


Layer = Literal["auto", "high", "medium", "low"]


class WhepQuery(Query):
    #: The simulcast layer to start with (docs/protocol.md, "Simulcast").
    layer: Layer = "auto"


class LayerBody(Body):
    layer: Layer
    #: The player's size in pixels, for ``auto`` (both or neither).
    width: int | None = Field(default=None, ge=1, le=16384)
    height: int | None = Field(default=None, ge=1, le=16384)


class LayerChosen(Out):
    layer: Layer
    #: The rid of the layer the viewer gets from its next keyframe on; null for a stream sent in one layer.
    rid: str | None


class UnsupportedMediaTypeError(InvalidInputError):
    code = "unsupported_media_type"
    status = 415


class PreconditionFailedError(HubError):
    """``If-Match`` names another ICE session than the current one (RFC 9725 section 4.3.1)."""

    code = "precondition_failed"
    status = 412


def _content_type(call: Call) -> str:
    return call.request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _offer(call: Call) -> str:
    if _content_type(call) != SDP:
        raise UnsupportedMediaTypeError("the offer must be sent as application/sdp")
    raw = await read_limited(call.request, min(MAX_OFFER_BYTES, call.ctx.settings.max_body_bytes))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSdpError("the SDP offer is not UTF-8") from None


def _etag(session_id: str) -> str:
    """The entity-tag of a session's ICE session. ICE never restarts here, so it is fixed for the session's life."""
    return f'"{session_id}"'


def _link_header(servers: tuple[dict[str, Any], ...]) -> str | None:
    links = []
    for server in servers:
        urls = server.get("urls")
        for url in [urls] if isinstance(urls, str) else list(urls or ()):
            link = f'<{url}>; rel="ice-server"'
            if server.get("username") is not None:
                link += f'; username="{server["username"]}"; credential="{server.get("credential", "")}"'
                link += '; credential-type="password"'
            links.append(link)
    return ", ".join(links) or None


def _session_url(call: Call, session_id: str) -> str:
    """The session's URL for ``Location``. A request addressed to this node's public URL (``HUB_PUBLIC_URL``) gets
    it absolute: that is how a 307 from a full node brings a client here, and clients that resolve a relative
    ``Location`` against the URL they first POSTed to (medooze's and Eyevinn's) would send their PATCH and DELETE to
    the node that redirected them. A request addressed by another name (a load balancer, a proxy) gets the path,
    which resolves against that name."""
    path = f"{call.request.url.path.rstrip('/')}/{session_id}"
    public = urlsplit(call.ctx.public_url)
    if public.netloc and public.netloc.lower() == call.request.url.netloc.lower():
        return f"{public.scheme}://{public.netloc}{public.path.rstrip('/')}{path}"
    return path


def _created(call: Call, session_id: str, answer: str) -> Response:
    headers = {
        "Location": _session_url(call, session_id),
        "ETag": _etag(session_id),
        "Accept-Patch": SDPFRAG,
    }
    link = _link_header(call.ctx.use.going_live.ice_servers)
    if link:
        headers["Link"] = link
    return Response(answer, status_code=201, media_type=SDP, headers=headers)


def _session_of(call: Call) -> str:
    """The path's session id, if the session (open, or closed not long ago) belongs to the path's stream."""
    return call.ctx.use.going_live.session_of(StreamId(call.path["stream_id"]), call.path["session_id"])


async def _delete(call: Call) -> Response:
    await call.ctx.use.going_live.hang_up(StreamId(call.path["stream_id"]), call.path["session_id"])
    return Response(status_code=200)


def _check_if_match(call: Call, session_id: str) -> None:
    """RFC 9725 section 4.3.1: a PATCH names the ICE session it is for in ``If-Match``; another one is 412.

    ICE sessions never restart here, so there is exactly one per session and a PATCH without ``If-Match`` cannot be
    meant for another: it is applied (medooze's and Eyevinn's clients send none on trickle PATCHes) rather than
    refused with the 428 the RFC describes for servers that do restart. Eyevinn's whip-web-client sends the tag in an
    ``ETag`` request header; that is read as ``If-Match``.
    """
    header = call.request.headers.get("if-match") or call.request.headers.get("etag")
    if header is None:
        return
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if "*" in tags or _etag(session_id) in tags:
        return
    raise PreconditionFailedError("If-Match names another ICE session than this session's")


async def _patch(call: Call) -> Response:
    session_id = _session_of(call)
    if _content_type(call) != SDPFRAG:
        raise UnsupportedMediaTypeError(f"trickle ICE fragments must be sent as {SDPFRAG}")
    _check_if_match(call, session_id)
    raw = await read_limited(call.request, min(MAX_FRAGMENT_BYTES, call.ctx.settings.max_body_bytes))
    try:
        fragment = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSdpError("the SDP fragment is not UTF-8") from None
    await call.ctx.use.going_live.trickle(StreamId(call.path["stream_id"]), session_id, fragment)
    return Response(status_code=204, headers={"ETag": _etag(session_id)})


def _options(allow: str, **extra: str) -> Response:
    headers = {"Allow": allow, "Access-Control-Allow-Methods": CORS_METHODS, **extra}
    return Response(status_code=204, headers=headers)


async def _session_options(call: Call) -> Response:
    _session_of(call)
    return _options(SESSION_METHODS, **{"Accept-Patch": SDPFRAG})


@api.route(
    "POST",
    "/whip/{stream_id}",
    summary="WHIP (RFC 9725): publish to a stream with its stream key as Bearer token; SDP offer in, answer out",
    tags=("media",),
    status=201,
    auth="none",
    raw_body=SDP,
    responses={
        400: "Malformed offer, or no usable video codec (VP8, H.264 packetization-mode 1) / Opus audio",
        401: "Missing or wrong stream key",
        404: "No such stream",
        409: "The stream already has a publisher, or has ended",
        413: "The offer is too large",
        415: "The body is not application/sdp",
    },
)
async def whip_publish(call: Call) -> Response:
    key = bearer_token(call.request)
    if key is None:
        raise UnauthenticatedError("WHIP needs 'Authorization: Bearer <stream key>'", code="invalid_stream_key")
    offer = await _offer(call)
    published = await call.ctx.use.going_live.publish_with_key(StreamId(call.path["stream_id"]), key, offer)
    return _created(call, published.session_id, published.answer_sdp)


@api.route(
    "POST",
    "/whep/{stream_id}",
    summary="WHEP: watch a live stream; SDP offer in, answer out",
    tags=("media",),
    status=201,
    auth="none",
    raw_body=SDP,
    query=WhepQuery,
    responses={
        307: "This node is full: Location names the same endpoint on a node with room (RFC 9725 allows redirects)",
        400: "Malformed offer, or the viewer cannot receive the stream's codec",
        404: "The stream is not live",
        413: "The offer is too large",
        415: "The body is not application/sdp",
        429: "This client already has viewer sessions still connecting (too_many_pending_sessions)",
        503: "This node cannot take more viewers for the stream",
    },
)
async def whep_subscribe(call: Call) -> Response:
    offer = await _offer(call)
    try:
        session_id, answer = await call.ctx.use.going_live.watch_live(
            call.principal,
            StreamId(call.path["stream_id"]),
            offer,
            call.client_address,
            layer=call.query_as(WhepQuery).layer,
        )
    except NodeFullError as full:
        # The offer is not consumed: a WHEP client repeats the POST at the Location (307 keeps method and body).
        location = full.url.rstrip("/") + call.request.url.path
        return Response(status_code=307, headers={"Location": location, "Access-Control-Expose-Headers": "Location"})
    return _created(call, session_id, answer)


@api.route(
    "POST",
    "/whep/{stream_id}/{session_id}/layer",
    summary="WHEP: choose the simulcast layer (auto, high, medium, low; auto may say the player's size)",
    tags=("media",),
    auth="none",
    body=LayerBody,
    response=LayerChosen,
    responses={404: "No such session"},
)
async def whep_layer(call: Call) -> dict[str, Any]:
    body = call.body_as(LayerBody)
    screen = (body.width, body.height) if body.width is not None and body.height is not None else None
    chosen = await call.ctx.use.going_live.choose_layer(
        StreamId(call.path["stream_id"]), call.path["session_id"], body.layer, screen
    )
    return {"layer": body.layer, "rid": chosen}


def _declare_session_routes(proto: str, name: str, on_delete: str) -> None:
    """The routes WHIP and WHEP share, declared once per protocol: DELETE, PATCH and OPTIONS on a session, and
    OPTIONS on the endpoint. Handler names stay ``{proto}_delete`` etc. (they are the OpenAPI operation ids)."""
    endpoint, session = f"/{proto}/{{stream_id}}", f"/{proto}/{{stream_id}}/{{session_id}}"

    async def delete(call: Call) -> Response:
        return await _delete(call)

    async def patch(call: Call) -> Response:
        return await _patch(call)

    async def options(call: Call) -> Response:
        return _options(ENDPOINT_METHODS, **{"Accept-Post": SDP})

    async def session_options(call: Call) -> Response:
        return await _session_options(call)

    for handler, suffix in (
        (delete, "delete"),
        (patch, "patch"),
        (options, "options"),
        (session_options, "session_options"),
    ):
        handler.__name__ = handler.__qualname__ = f"{proto}_{suffix}"

    api.route(
        "DELETE",
        session,
        summary=f"{name}: {on_delete}",
        tags=("media",),
        auth="none",
        responses={404: "No such session, or it was deleted before"},
    )(delete)
    api.route(
        "PATCH",
        session,
        summary=f"{name}: trickle ICE candidates (RFC 8840 SDP fragment); an ICE restart is refused with 422",
        tags=("media",),
        status=204,
        auth="none",
        raw_body=SDPFRAG,
        responses={
            400: "Malformed fragment, or a media section (a=mid) the session does not have",
            404: "No such session",
            412: "If-Match names another ICE session",
            413: "The fragment is too large",
            415: "The body is not application/trickle-ice-sdpfrag",
            422: "The fragment asks for an ICE restart (new ICE credentials), which this server does not do",
        },
    )(patch)
    api.route(
        "OPTIONS",
        endpoint,
        summary=f"{name}: the methods the endpoint allows, and Accept-Post: application/sdp",
        tags=("media",),
        status=204,
        auth="none",
    )(options)
    api.route(
        "OPTIONS",
        session,
        summary=f"{name}: the methods a session allows, and Accept-Patch: application/trickle-ice-sdpfrag",
        tags=("media",),
        status=204,
        auth="none",
        responses={404: "No such session"},
    )(session_options)


_declare_session_routes(
    "whip", "WHIP", "stop publishing (the stream ends at once, also after the peer closed its connection)"
)
_declare_session_routes("whep", "WHEP", "stop watching")
