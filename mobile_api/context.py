"""What the HTTP edge needs from the rest of the hub: the use cases (``app``) and a few edge settings. ``hub.wiring``
fills it in; handlers read it. No domain service is reachable from here: every route calls a use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.use_cases import UseCases
from mobile_api.settings import ApiSettings


@dataclass(slots=True)
class ApiContext:
    use: UseCases  # the application layer: handlers call these
    settings: ApiSettings
    public_url: str
    # name -> async check that raises when the dependency is unreachable
    readiness: dict[str, Callable[[], Awaitable[Any]]] = field(default_factory=dict)
