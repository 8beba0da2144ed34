"""The HTTP edge's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiSettings:
    #: Request bodies larger than this are refused (413) before they are parsed.
    max_body_bytes: int = 1 << 20
