"""The gift catalogue: admins create and change gifts; every change is a new version, kept forever, so a sent gift
can always be traced to the exact price, bean value and effect it used."""

from __future__ import annotations

import re
import time
from typing import Any

from core.clock import Clock
from core.errors import InvalidInputError
from gifts.errors import CatalogueVersionError, GiftNotFoundError
from gifts.models import Effect, Gift, Rarity
from gifts.store import GiftStore

_ID = re.compile(r"^[a-z0-9_]{2,40}$")
EDITABLE = frozenset({"names", "coins", "beans", "rarity", "effect", "combo", "kind", "active"})

# Bean values are the gift's virtual value: 10 beans per coin of price; the streamer gets the kind's share (80 %).
SEED_GIFTS: tuple[dict[str, Any], ...] = (
    {
        "id": "rose",
        "names": {"en": "Rose", "ru": "Роза"},
        "coins": 1,
        "beans": 10,
        "rarity": "common",
        "effect": {"animation": "rose", "duration_ms": 1500, "fullscreen": False},
        "combo": True,
    },
    {
        "id": "heart",
        "names": {"en": "Heart", "ru": "Сердце"},
        "coins": 5,
        "beans": 50,
        "rarity": "common",
        "effect": {"animation": "heart", "duration_ms": 1500, "fullscreen": False},
        "combo": True,
    },
    {
        "id": "ice_cream",
        "names": {"en": "Ice cream", "ru": "Мороженое"},
        "coins": 10,
        "beans": 100,
        "rarity": "common",
        "effect": {"animation": "ice_cream", "duration_ms": 2000, "fullscreen": False},
        "combo": True,
    },
    {
        "id": "perfume",
        "names": {"en": "Perfume", "ru": "Духи"},
        "coins": 20,
        "beans": 200,
        "rarity": "rare",
        "effect": {"animation": "perfume", "duration_ms": 2500, "fullscreen": False},
        "combo": True,
    },
    {
        "id": "confetti",
        "names": {"en": "Confetti", "ru": "Конфетти"},
        "coins": 100,
        "beans": 1000,
        "rarity": "rare",
        "effect": {"animation": "confetti", "duration_ms": 3000, "fullscreen": False},
        "combo": True,
    },
    {
        "id": "sports_car",
        "names": {"en": "Sports car", "ru": "Спорткар"},
        "coins": 1000,
        "beans": 10000,
        "rarity": "epic",
        "effect": {"animation": "sports_car", "duration_ms": 5000, "fullscreen": True},
        "combo": False,
    },
    {
        "id": "lion",
        "names": {"en": "Lion", "ru": "Лев"},
        "coins": 5000,
        "beans": 50000,
        "rarity": "legendary",
        "effect": {"animation": "lion", "duration_ms": 8000, "fullscreen": True},
        "combo": False,
    },
)


def _check(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the editable fields of a gift (the HTTP edge checks types; this checks meaning)."""
    out: dict[str, Any] = {}
    if "names" in fields:
        names = fields["names"]
        if not isinstance(names, dict) or not names.get("en") or not names.get("ru"):
            raise InvalidInputError("names needs 'en' and 'ru'", field="names")
        out["names"] = {str(k): str(v)[:60] for k, v in names.items()}
    for name in ("coins", "beans"):
        if name in fields:
            value = fields[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "coins" else 0):
                raise InvalidInputError(
                    f"{name} must be a {'positive' if name == 'coins' else 'non-negative'} integer", field=name
                )
            out[name] = value
    if "rarity" in fields:
        try:
            out["rarity"] = Rarity(fields["rarity"]).value
        except ValueError:
            raise InvalidInputError("unknown rarity", field="rarity") from None
    if "effect" in fields:
        e = fields["effect"]
        try:
            out["effect"] = Effect(str(e["animation"]), int(e["duration_ms"]), bool(e["fullscreen"])).to_dict()
        except (KeyError, TypeError, ValueError):
            raise InvalidInputError("effect needs animation, duration_ms and fullscreen", field="effect") from None
    for name in ("combo", "active"):
        if name in fields:
            out[name] = bool(fields[name])
    if "kind" in fields:
        out["kind"] = str(fields["kind"])[:40]
    return out


class GiftCatalogue:
    def __init__(self, store: GiftStore, clock: Clock, *, cache_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, Gift]] = {}

    async def seed(self) -> int:
        """Insert the default gifts that are missing (never overwrites an admin's changes)."""
        added = 0
        for seed in SEED_GIFTS:
            fields = _check({k: v for k, v in seed.items() if k != "id"})
            if await self._insert(seed["id"], {"kind": "standard", "active": True, **fields}):
                added += 1
        return added

    async def _insert(self, gift_id: str, fields: dict[str, Any]) -> bool:
        gift = Gift.from_doc({"_id": gift_id, **fields, "version": 1, "updated_at": self._clock.now()})
        doc = gift.to_doc()
        if not await self._store.insert_gift(doc):
            return False
        await self._store.insert_version({**doc, "_id": f"{gift_id}:1", "gift_id": gift_id})
        return True

    async def list(self, *, include_inactive: bool = False) -> list[Gift]:
        return [Gift.from_doc(d) for d in await self._store.list_gifts(include_inactive=include_inactive)]

    async def get(self, gift_id: str, *, cached: bool = False) -> Gift:
        if cached:
            hit = self._cache.get(gift_id)
            if hit is not None and time.monotonic() - hit[0] < self._cache_s:
                return hit[1]
        doc = await self._store.get_gift(gift_id)
        if doc is None:
            raise GiftNotFoundError("no such gift")
        gift = Gift.from_doc(doc)
        self._cache[gift_id] = (time.monotonic(), gift)
        return gift

    async def version(self, gift_id: str, version: int) -> Gift:
        doc = await self._store.get_version(gift_id, version)
        if doc is None:
            raise GiftNotFoundError("no such gift version")
        return Gift.from_doc(doc)

    async def create(self, gift_id: str, fields: dict[str, Any]) -> Gift:
        if not _ID.match(gift_id):
            raise InvalidInputError("id must be 2-40 of a-z, 0-9 and _", field="id")
        missing = {"names", "coins", "beans", "effect"} - fields.keys()
        if missing:
            raise InvalidInputError(f"missing: {', '.join(sorted(missing))}")
        checked = _check(fields)
        checked.setdefault("rarity", Rarity.COMMON.value)
        checked.setdefault("combo", True)
        checked.setdefault("kind", "standard")
        checked.setdefault("active", True)
        if not await self._insert(gift_id, checked):
            raise CatalogueVersionError("a gift with this id exists already", code="gift_exists")
        return await self.get(gift_id)

    async def update(self, gift_id: str, changes: dict[str, Any], expected_version: int | None) -> Gift:
        """Apply ``changes`` as a new version (optimistic: refused if someone else changed it meanwhile)."""
        checked = _check({k: v for k, v in changes.items() if k in EDITABLE})
        current = await self.get(gift_id)
        version = current.version if expected_version is None else expected_version
        doc = await self._store.update_gift(gift_id, version, {**checked, "updated_at": self._clock.now()})
        if doc is None:
            raise CatalogueVersionError(
                "the gift changed meanwhile; reload it and try again", current_version=current.version
            )
        gift = Gift.from_doc(doc)
        await self._store.insert_version({**gift.to_doc(), "_id": f"{gift_id}:{gift.version}", "gift_id": gift_id})
        self._cache.pop(gift_id, None)
        return gift
