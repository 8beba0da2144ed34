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
from app.vocabulary import GoalKind, Role
from core.errors import ForbiddenError, HubError, InvalidInputError
from core.ids import StreamId, UserId
from hub.wiring import Hub
from rooms.chat_models import ModAction
from rooms.moderation import ModRequest
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
    (
        "moderating.name_moderator",
        Action.NAME_MODERATOR,
        lambda h, who, s: h.use.moderating.name_moderator(who, s, UserId("someone")),
    ),
    (
        "moderating.remove_moderator",
        Action.NAME_MODERATOR,
        lambda h, who, s: h.use.moderating.remove_moderator(who, s, UserId("someone")),
    ),
    (
        "moderating.act (clear)",
        Action.MODERATE,
        lambda h, who, s: h.use.moderating.act(who, s, ModRequest(ModAction.CLEAR)),
    ),
    (
        "moderating.act (end_stream)",
        Action.END_STREAM,
        lambda h, who, s: h.use.moderating.act(who, s, ModRequest(ModAction.END_STREAM)),
    ),
    (
        "moderating.report",
        Action.REPORT,
        lambda h, who, s: h.use.moderating.report(
            who, s, reason="spam", message_id=None, target_user_id=UserId("someone")
        ),
    ),
    (
        "moderating.modlog",
        Action.READ_MODERATION,
        lambda h, who, s: h.use.moderating.modlog(who, s, cursor=None, limit=None),
    ),
    (
        "moderating.reports",
        Action.READ_MODERATION,
        lambda h, who, s: h.use.moderating.reports(who, s, status=None, cursor=None, limit=None),
    ),
    (
        "moderating.resolve_report",
        Action.RESOLVE_REPORT,
        lambda h, who, s: h.use.moderating.resolve_report(who, s, "some-report", "done"),
    ),
    ("moderating.room_settings", Action.READ_MODERATION, lambda h, who, s: h.use.moderating.room_settings(who, s)),
    ("moderating.restrictions", Action.READ_MODERATION, lambda h, who, s: h.use.moderating.restrictions(who, s)),
    (
        "accounts_admin.set_role",
        Action.SET_ROLE,
        lambda h, who, s: h.use.accounts_admin.set_role(who, UserId("someone"), Role.ADMIN),
    ),
    (
        "accounts_admin.set_suspension",
        Action.SET_SUSPENSION,
        lambda h, who, s: h.use.accounts_admin.set_suspension(who, UserId("someone"), True),
    ),
    (
        "accounts_admin.set_identity_verified",
        Action.SET_IDENTITY,
        lambda h, who, s: h.use.accounts_admin.set_identity_verified(who, UserId("someone"), True),
    ),
    (
        "money_admin.decide",
        Action.ADMINISTER_MONEY,
        lambda h, who, s: h.use.money_admin.decide(who, "some-cashout", "approve", None),
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


async def test_only_the_streamer_sets_or_clears_a_goal_not_a_fan_a_channel_moderator_staff_or_an_admin(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    owner_tokens = await register(client, "owner")
    stream_id = StreamId((await create_stream(client, owner_tokens))["id"])
    owner = await hub.use.identity.user(UserId(owner_tokens["user"]["id"]))
    fan = await hub.use.identity.user(UserId((await register(client, "fan"))["user"]["id"]))
    await hub.use.moderating.name_moderator(owner, stream_id, fan.user_id)
    others = {
        "fan": await hub.use.identity.user(UserId((await register(client, "other"))["user"]["id"])),
        "channel moderator": await hub.use.identity.user(fan.user_id),
        "staff": replace(fan, role=Role.MODERATOR),
        "admin": replace(fan, role=Role.ADMIN),
    }
    for name, who in others.items():
        with pytest.raises(ForbiddenError):
            await hub.use.goals.set(who, stream_id, kind=GoalKind.BEANS, target=100, gift_id=None, title="")
        assert await hub.money.goals.get(stream_id) is None, name
    goal = await hub.use.goals.set(owner, stream_id, kind=GoalKind.BEANS, target=100, gift_id=None, title="mic")
    assert goal.target == 100
    for name, who in others.items():
        with pytest.raises(ForbiddenError):
            await hub.use.goals.clear(who, stream_id)
        assert await hub.money.goals.get(stream_id) is not None, name
    await hub.use.goals.clear(owner, stream_id)
    assert await hub.money.goals.get(stream_id) is None


async def test_an_admin_cannot_suspend_themself_and_nothing_changes(hub: Hub, client: httpx.AsyncClient) -> None:
    me = await hub.use.identity.user(UserId((await register(client, "admin"))["user"]["id"]))
    admin = replace(me, role=Role.ADMIN)
    with pytest.raises(InvalidInputError, match="cannot suspend themselves"):
        await hub.use.accounts_admin.set_suspension(admin, admin.user_id, True)
    assert not (await hub.accounts.get_user(admin.user_id)).suspended


async def test_a_timed_out_fan_may_not_like_but_a_timed_out_channel_moderator_still_may(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    """Participants' actions read the channel's moderators only for a restricted caller; the answer is the policy's."""
    owner_tokens = await register(client, "owner")
    stream_id = StreamId((await create_stream(client, owner_tokens))["id"])
    owner = await hub.use.identity.user(UserId(owner_tokens["user"]["id"]))
    await hub.use.going_live.go_live(owner, stream_id)
    fan = await hub.use.identity.user(UserId((await register(client, "fan"))["user"]["id"]))
    mod = await hub.use.identity.user(UserId((await register(client, "mod"))["user"]["id"]))
    await hub.use.moderating.name_moderator(owner, stream_id, mod.user_id)
    for who in (fan, mod):
        await hub.use.chatting.like(who, stream_id, 1)  # both may, unrestricted
        await hub.use.moderating.act(
            owner, stream_id, ModRequest(ModAction.TIMEOUT, target_user_id=who.user_id, duration_s=600)
        )
    with pytest.raises(HubError) as refused:
        await hub.use.chatting.like(fan, stream_id, 1)
    assert refused.value.code == "restricted"
    await hub.use.chatting.like(mod, stream_id, 1)  # a moderator's own timeout does not stop them
