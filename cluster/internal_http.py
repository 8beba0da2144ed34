"""The node-to-node HTTP endpoint, mounted by ``hub`` on every node (outside ``/api/v1``; not in the OpenAPI
document: no client but another node may call it).

``POST /internal/v1/streams/{stream_id}/pipe`` signed with the cluster secret (``cluster.signing``) → 200
``{"offer": <relay offer>, "node_id": ...}`` from this node's SFU (one pipe per call: the calling edge attaches it);
401 without a valid signature, 404 when this node has no copy of the stream.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cluster.errors import BadSignatureError
from cluster.signing import HEADER, RequestSigner
from core.errors import HubError
from sfu import Sfu

log = logging.getLogger(__name__)

MAX_BODY = 4096


def _problem(error: HubError) -> JSONResponse:
    return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)


def internal_routes(sfu: Sfu, signer: RequestSigner) -> list[Route]:
    async def open_pipe(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"code": "payload_too_large", "message": "too large"}, status_code=413)
        try:
            caller = signer.verify(request.headers.get(HEADER), "POST", request.url.path, body)
        except BadSignatureError as exc:
            return _problem(exc)
        stream_id = request.path_params["stream_id"]
        try:
            offer = await sfu.open_origin_pipe(stream_id)
        except HubError as exc:
            return _problem(exc)
        log.info("opened a relay pipe of stream %s for %s", stream_id, caller)
        return JSONResponse({"offer": offer, "node_id": signer.node_id})

    return [Route("/internal/v1/streams/{stream_id}/pipe", open_pipe, methods=["POST"])]
