"""Errors of the cluster plane."""

from __future__ import annotations

from core.errors import HubError, UnauthenticatedError, UnavailableError


class BadSignatureError(UnauthenticatedError):
    """An internal node-to-node request without a valid, fresh signature."""

    code = "bad_cluster_signature"


class NodeUnreachableError(UnavailableError):
    code = "node_unreachable"


class NodeFullError(HubError):
    """This node has no room for another viewer; ``url`` is a node that has (the edge redirects there)."""

    code = "node_full"
    status = 307

    def __init__(self, message: str, *, url: str, node_id: str) -> None:
        super().__init__(message, url=url, node_id=node_id)
        self.url = url
        self.node_id = node_id


class ClusterFullError(UnavailableError):
    code = "cluster_full"
