"""The gift catalogue: anyone browses the gifts on sale; admins add gifts and change them (each change is a new
version, so a gift sent earlier keeps the price it was sent at)."""

from __future__ import annotations

from typing import Any

from accounts.audit import AdminAction, AdminAudit
from app.policy import Action, require
from app.principal import Principal
from gifts.models import Gift
from gifts.service import GiftService


class Catalogue:
    def __init__(self, gifts: GiftService, audit: AdminAudit) -> None:
        self._catalogue = gifts.catalogue
        self._audit = audit

    async def browse(self, who: Principal | None, *, include_inactive: bool = False) -> list[Gift]:
        """The gifts on sale; withdrawn ones too when an admin asks (``include_inactive``; ignored for others)."""
        require(Action.BROWSE_GIFTS, who)
        admin = who is not None and who.is_admin
        return await self._catalogue.list(include_inactive=include_inactive and admin)

    async def add(self, who: Principal | None, gift_id: str, fields: dict[str, Any]) -> Gift:
        """A new gift (``gift_exists`` if the id is taken). ``fields``: names, coins, beans, rarity, effect, combo,
        kind, active."""
        require(Action.EDIT_CATALOGUE, who)
        assert who is not None
        gift = await self._catalogue.create(gift_id, fields)
        await self._audit.record(
            who.user_id, who.nickname, AdminAction.CATALOGUE, "gift", gift.id, "", change="added", version=gift.version
        )
        return gift

    async def change(
        self, who: Principal | None, gift_id: str, changes: dict[str, Any], expected_version: int | None
    ) -> Gift:
        """A new version of a gift with ``changes``; refused if the gift moved past ``expected_version``."""
        require(Action.EDIT_CATALOGUE, who)
        assert who is not None
        gift = await self._catalogue.update(gift_id, changes, expected_version)
        await self._audit.record(
            who.user_id,
            who.nickname,
            AdminAction.CATALOGUE,
            "gift",
            gift.id,
            "",
            change="changed",
            fields=sorted(changes),
            version=gift.version,
        )
        return gift
