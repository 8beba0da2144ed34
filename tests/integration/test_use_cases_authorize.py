"""Every use case behind an HTTP route asks the policy itself, so no edge can forget to: called directly, with no edge
in between, by a caller the policy refuses (a guest, a suspended account, someone without the role), each answers
with the code the policy table gives that caller for the use case's action — and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.policy import Action, Room, decide
from app.principal import Principal
from app.vocabulary import GoalKind
from core.errors import HubError
from core.ids import StreamId, UserId
from hub.wiring import Hub
from tests.support.api import create_stream, register

UseCall = Callable[[Hub, Principal | None, StreamId], Awaitable[Any]]

#: (name, the action it is authorized as, the call)
CALLS: list[tuple[str, Action, UseCall]] = [
    ("my_wallet.balances", Action.USE_WALLET, lambda h, who, s: h.use.my_wallet.balances(who)),
    (
        "my_wallet.transactions",
        Action.USE_WALLET,
        lambda h, who, s: h.use.my_wallet.transactions(who, cursor=None, limit=None),
    ),
    ("my_wallet.start_topup", Action.USE_WALLET, lambda h, who, s: h.use.my_wallet.start_topup(who, "p1", "checkout")),
    ("my_wallet.topup", Action.USE_WALLET, lambda h, who, s: h.use.my_wallet.topup(who, "t1")),
    ("my_wallet.request_cashout", Action.USE_WALLET, lambda h, who, s: h.use.my_wallet.request_cashout(who, 5, "k")),
    ("my_wallet.cashouts", Action.USE_WALLET, lambda h, who, s: h.use.my_wallet.cashouts(who)),
    ("catalogue.add", Action.EDIT_CATALOGUE, lambda h, who, s: h.use.catalogue.add(who, "new_gift", {})),
    ("catalogue.change", Action.EDIT_CATALOGUE, lambda h, who, s: h.use.catalogue.change(who, "rose", {}, None)),
    (
        "goals.set",
        Action.SET_GOAL,
        lambda h, who, s: h.use.goals.set(who, s, kind=GoalKind.BEANS, target=10, gift_id=None, title=""),
    ),
    ("goals.clear", Action.SET_GOAL, lambda h, who, s: h.use.goals.clear(who, s)),
    (
        "directory.following",
        Action.LIST_MY_STREAMS,
        lambda h, who, s: h.use.directory.following(who, cursor=None, limit=None),
    ),
    ("directory.moderated", Action.LIST_MY_STREAMS, lambda h, who, s: h.use.directory.moderated(who)),
    (
        "my_streams.create",
        Action.CREATE_STREAM,
        lambda h, who, s: h.use.my_streams.create(who, title="t", category=None, tags=None),
    ),
    ("my_streams.mine", Action.LIST_MY_STREAMS, lambda h, who, s: h.use.my_streams.mine(who)),
    ("my_streams.rotate_key", Action.READ_STREAM_KEY, lambda h, who, s: h.use.my_streams.rotate_key(who, s)),
    (
        "watching.chat_history (removed)",
        Action.READ_MODERATION,
        lambda h, who, s: h.use.watching.chat_history(who, s, cursor=None, limit=None, removed=True),
    ),
    ("profiles.me", Action.MANAGE_SELF, lambda h, who, s: h.use.profiles.me(who)),
    (
        "profiles.update_me",
        Action.MANAGE_SELF,
        lambda h, who, s: h.use.profiles.update_me(who, nickname="x", bio=None, avatar_url=None, phone=None),
    ),
    ("profiles.follow", Action.MANAGE_SELF, lambda h, who, s: h.use.profiles.follow(who, UserId("someone"))),
    ("profiles.unfollow", Action.MANAGE_SELF, lambda h, who, s: h.use.profiles.unfollow(who, UserId("someone"))),
]


@pytest.mark.parametrize(("name", "action", "call"), CALLS, ids=[c[0] for c in CALLS])
async def test_a_use_case_refuses_whom_the_policy_refuses(
    hub: Hub, client: httpx.AsyncClient, name: str, action: Action, call: UseCall
) -> None:
    owner = await register(client, "owner")
    stream_id = StreamId((await create_stream(client, owner))["id"])
    viewer = await hub.use.identity.user(UserId((await register(client, "viewer"))["user"]["id"]))
    personas: dict[str, Principal | None] = {
        "guest": None,
        "suspended": replace(viewer, suspended=True),
        "viewer": viewer,
    }
    before = (await hub.streams.get(stream_id), await hub.streams.owned_by(viewer.user_id))
    refused = 0
    for persona, who in personas.items():
        expected = decide(action, who, Room.of(await hub.streams.get(stream_id)))
        if expected is None:
            continue  # allowed: what it then does is the HTTP tests' business
        with pytest.raises(HubError) as raised:
            await call(hub, who, stream_id)
        assert raised.value.code == expected.code, (name, persona)
        refused += 1
    assert refused >= 2, name  # every call refuses at least the guest and the suspended account
    assert (await hub.streams.get(stream_id), await hub.streams.owned_by(viewer.user_id)) == before
