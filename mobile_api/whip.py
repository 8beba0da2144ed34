"""WHIP (RFC 9725) and WHEP: publish and watch over one HTTP POST each, SDP in and SDP out.

- ``POST /whip/{stream_id}`` with ``Authorization: Bearer <stream key>`` and an SDP offer → 201, ``Location`` of
  the session, the answer. A wrong key is 401; a second publisher is 409. ``DELETE`` on the Location ends it.
- ``POST /whep/{stream_id}`` with an offer → 201 and the answer; 404 if the stream is not live. ``DELETE`` ends it.

The SFU answers after gathering its candidates (no trickle; ``PATCH`` is not offered, so it is a 405, as
RFC 9725 section 4.3.1 allows). STUN/TURN servers go to the client in ``Link: rel="ice-server"`` headers
(section 4.6). No business logic here: the stream service checks the key, the SFU does the media.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from core.errors import ForbiddenError, InvalidInputError, UnauthenticatedError, UnavailableError
from core.ids import StreamId
from mobile_api.routing import Api, Call, bearer_token, read_limited
from sfu import InvalidSdpError, SessionNotFoundError, Sfu

api = Api()

SDP = "application/sdp"
#: Offers are a few kilobytes; the SFU also enforces its own limit.
MAX_OFFER_BYTES = 64 * 1024


class UnsupportedMediaTypeError(InvalidInputError):
    code = "unsupported_media_type"
    status = 415


def _sfu(call: Call) -> Sfu:
    sfu: Sfu | None = getattr(call.ctx, "sfu", None)
    if sfu is None:
        raise UnavailableError("media is not served by this node", code="sfu_unavailable")
    return sfu


async def _offer(call: Call) -> str:
    content_type = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != SDP:
        raise UnsupportedMediaTypeError("the offer must be sent as application/sdp")
    raw = await read_limited(call.request, min(MAX_OFFER_BYTES, call.ctx.max_body_bytes))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSdpError("the SDP offer is not UTF-8") from None


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


def _created(call: Call, sfu: Sfu, session_id: str, answer: str) -> Response:
    headers = {
        "Location": f"{call.request.url.path.rstrip('/')}/{session_id}",
        "ETag": f'"{session_id}"',
        "Access-Control-Expose-Headers": "Location, ETag, Link",
    }
    link = _link_header(sfu.settings.ice_servers)
    if link:
        headers["Link"] = link
    return Response(answer, status_code=201, media_type=SDP, headers=headers)


async def _delete(call: Call) -> Response:
    sfu = _sfu(call)
    session_id = call.path["session_id"]
    try:
        if sfu.session_stream(session_id) != call.path["stream_id"]:
            raise SessionNotFoundError("no such session")
    except SessionNotFoundError:
        raise SessionNotFoundError("no such session") from None
    await sfu.close_session(session_id)
    return Response(status_code=200)


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
    sfu = _sfu(call)
    key = bearer_token(call.request)
    if key is None:
        raise UnauthenticatedError("WHIP needs 'Authorization: Bearer <stream key>'", code="invalid_stream_key")
    stream_id = StreamId(call.path["stream_id"])
    try:
        stream = await call.ctx.streams.authorize_publisher(stream_id, key)
    except ForbiddenError:
        raise UnauthenticatedError("wrong stream key", code="invalid_stream_key") from None
    offer = await _offer(call)
    session_id, answer = await sfu.publish(stream.id, offer, {"stream_id": stream.id, "user_id": stream.owner_id})
    return _created(call, sfu, session_id, answer)


@api.route(
    "DELETE",
    "/whip/{stream_id}/{session_id}",
    summary="WHIP: stop publishing (the stream ends)",
    tags=("media",),
    auth="none",
    responses={404: "No such session"},
)
async def whip_delete(call: Call) -> Response:
    return await _delete(call)


@api.route(
    "POST",
    "/whep/{stream_id}",
    summary="WHEP: watch a live stream; SDP offer in, answer out",
    tags=("media",),
    status=201,
    auth="none",
    raw_body=SDP,
    responses={
        400: "Malformed offer, or the viewer cannot receive the stream's codec",
        404: "The stream is not live",
        413: "The offer is too large",
        415: "The body is not application/sdp",
        503: "This node cannot take more viewers for the stream",
    },
)
async def whep_subscribe(call: Call) -> Response:
    sfu = _sfu(call)
    offer = await _offer(call)
    stream_id = call.path["stream_id"]
    session_id, answer = await sfu.subscribe(stream_id, offer, {"stream_id": stream_id, "client": call.client_address})
    return _created(call, sfu, session_id, answer)


@api.route(
    "DELETE",
    "/whep/{stream_id}/{session_id}",
    summary="WHEP: stop watching",
    tags=("media",),
    auth="none",
    responses={404: "No such session"},
)
async def whep_delete(call: Call) -> Response:
    return await _delete(call)
