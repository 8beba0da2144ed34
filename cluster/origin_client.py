"""Asks an origin node for a relay pipe over signed internal HTTP (``POST /internal/v1/streams/{id}/pipe``)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx

from cluster.errors import NodeUnreachableError
from cluster.models import Origin
from cluster.signing import HEADER, RequestSigner
from sfu import StreamNotLiveError


def pipe_path(stream_id: str) -> str:
    return f"/internal/v1/streams/{quote(stream_id, safe='')}/pipe"


class OriginClient:
    def __init__(self, signer: RequestSigner, *, timeout_s: float = 5.0) -> None:
        self._signer = signer
        self._http = httpx.AsyncClient(timeout=timeout_s)

    async def open_pipe(self, origin: Origin) -> str:
        path = pipe_path(origin.stream_id)
        body = json.dumps({"epoch": origin.epoch}).encode()
        headers = {HEADER: self._signer.sign("POST", path, body), "Content-Type": "application/json"}
        try:
            response = await self._http.post(origin.url.rstrip("/") + path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NodeUnreachableError(f"the origin node {origin.node_id} cannot be reached") from exc
        if response.status_code == 404:
            raise StreamNotLiveError("the stream is not live at its origin")
        if response.status_code != 200:
            raise NodeUnreachableError(f"the origin node {origin.node_id} answered {response.status_code}")
        try:
            offer = response.json()["offer"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NodeUnreachableError(f"the origin node {origin.node_id} sent no offer") from exc
        if not isinstance(offer, str):
            raise NodeUnreachableError(f"the origin node {origin.node_id} sent no offer")
        return offer

    async def close(self) -> None:
        await self._http.aclose()
