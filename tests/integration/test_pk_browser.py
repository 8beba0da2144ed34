"""A real Chromium on the viewer page during a PK battle: it plays its room's stream and the opponent's, published to
another node (relayed), side by side with the score bar, and goes back to one video when the battle closes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.e2e.browser import PageLog, new_page
from tests.e2e.browser import chromium as e2e_chromium
from tests.integration.test_cluster_media import FAST, live_on, publish
from tests.support.api import create_stream, register
from tests.support.coins import give_coins
from tests.support.live import live_clients
from tests.support.nodes import hub_nodes
from tests.support.sfu_peers import Publisher
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Frames decoded by the page's own player and by its PK opponent video, and what the split screen shows.
PAGE_STATE = """async () => {
  const { state, pk } = window.livehub;
  async function frames(pc) {
    let n = 0;
    if (pc) (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") n = s.framesDecoded || 0;
    });
    return n;
  }
  const stage = document.querySelector("#stage");
  const bar = stage.querySelector(".pk-bar");
  const clock = stage.querySelector(".pk-clock");
  return { own: await frames(state.pc), opponent: await frames(pk.pc), pk: stage.dataset.pk || "",
           split: stage.classList.contains("pk"), ours: bar ? bar.dataset.ours || "" : "",
           theirs: bar ? bar.dataset.theirs || "" : "", clock: clock ? clock.dataset.seconds || "" : "",
           videos: [...stage.querySelectorAll("video")].filter((v) => !v.hidden).length };
}"""


async def wait_page(page: Any, check: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = await page.evaluate(PAGE_STATE)
        if check(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {state}")


async def test_a_chromium_viewer_shows_both_streams_decoding_side_by_side_with_the_score_during_a_battle(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    pk = {"pk_duration_s": 40, "pk_after_s": 2, "pk_poll_s": 0.2, "gift_burst": 100}
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST, **pk) as (n1, n2):
        ann, bob, fan = await register(n1.http, "Ann"), await register(n2.http, "Bob"), await register(n1.http, "Fan")
        s_ann, s_bob = await create_stream(n1.http, ann), await create_stream(n2.http, bob)
        pub_ann, pub_bob = Publisher(), Publisher()
        try:
            await publish(n1, s_ann, pub_ann)
            await publish(n2, s_bob, pub_bob)  # Bob's stream has its origin on node 2
            assert await until(lambda: live_on(n1, s_bob["id"]), 10)
            await give_coins(n1.http, n1.hub, fan["user"]["id"], 100)
            async with live_clients() as open_client, e2e_chromium() as browser:
                page = await new_page(browser)
                PageLog(page, ignore=("WebSocket", "status of 404"))
                await page.goto(f"{n1.url}/watch/{s_ann['id']}")
                alone = await wait_page(page, lambda s: s["own"] > 10, 20, "the page's own stream decoding")
                assert not alone["split"] and alone["videos"] == 1  # no battle: the ordinary stage

                a = await open_client(n1.url, ann["access_token"])
                b = await open_client(n2.url, bob["access_token"])
                invite = {"stream_id": s_ann["id"], "opponent_stream_id": s_bob["id"]}
                battle = (await a.ok("pk:invite", invite))["battle"]
                await b.ok("pk:accept", {"stream_id": s_bob["id"], "battle_id": battle["id"]})
                both = await wait_page(
                    page, lambda s: s["split"] and s["opponent"] > 10 and s["own"] > alone["own"], 25, "both decoding"
                )
                assert both["pk"] == "live" and both["videos"] == 2 and 0 < int(both["clock"]) <= 40
                # A gift to the opponent moves the bar on this page (the opponent's side).
                sock = await open_client(n1.url, fan["access_token"])
                await sock.ok("gift:send", {"stream_id": s_bob["id"], "gift_id": "rose", "idempotency_key": "g1"})
                await wait_page(page, lambda s: s["theirs"] == "8" and s["ours"] == "0", 10, "the score bar")
                # Bob leaves: the result shows, then the page is back to its own stream alone.
                await b.ok("pk:quit", {"stream_id": s_bob["id"], "battle_id": battle["id"]})
                await wait_page(page, lambda s: s["pk"] == "after", 10, "the result")
                assert await page.evaluate("document.querySelector('.pk-result').dataset.result") == "won"
                await wait_page(page, lambda s: not s["split"] and s["videos"] == 1, 10, "one video again")
        finally:
            await pub_ann.close()
            await pub_bob.close()


STUDIO_STATE = """async () => {
  const pk = window.livehub.state.pk;
  let frames = 0;
  if (pk && pk.pc) (await pk.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
  });
  const stage = document.querySelector("#stage");
  const bar = stage.querySelector(".pk-bar");
  return { opponent: frames, pk: stage.dataset.pk || "", status: document.querySelector("#pk-status").textContent,
           ours: bar ? bar.dataset.ours || "" : "", theirs: bar ? bar.dataset.theirs || "" : "",
           quit: !document.querySelector("#pk-quit").hidden };
}"""


async def test_the_studio_invites_from_its_pk_card_and_shows_the_opponents_video_and_the_score(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    pk = {"pk_duration_s": 40, "pk_after_s": 2, "pk_poll_s": 0.2, "gift_burst": 100}
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST, **pk) as (n1, n2):
        ann, bob, fan = await register(n1.http, "Ann"), await register(n2.http, "Bob"), await register(n1.http, "Fan")
        s_ann, s_bob = await create_stream(n1.http, ann), await create_stream(n2.http, bob)
        pub_ann, pub_bob = Publisher(), Publisher()
        try:
            await publish(n1, s_ann, pub_ann)
            await publish(n2, s_bob, pub_bob)
            assert await until(lambda: live_on(n1, s_bob["id"]), 10)
            await give_coins(n1.http, n1.hub, fan["user"]["id"], 100)
            async with live_clients() as open_client, e2e_chromium() as browser:
                page = await new_page(browser)
                PageLog(page, ignore=("WebSocket", "status of 404"))
                await page.goto(f"{n1.url}/")
                stored = {
                    "access_token": ann["access_token"],
                    "refresh_token": ann["refresh_token"],
                    "user": ann["user"],
                }
                await page.evaluate("(s) => localStorage.setItem('livehub.session', JSON.stringify(s))", stored)
                await page.goto(f"{n1.url}/studio?stream={s_ann['id']}")
                b = await open_client(n2.url, bob["access_token"])
                await b.ok("stream:join", {"stream_id": s_bob["id"]})
                await page.fill("#pk-opponent", f"{n2.url}/watch/{s_bob['id']}")
                await page.click("#pk-invite-form button[type=submit]")
                invited = await b.wait_event("pk:invited", timeout=10)
                await b.ok("pk:accept", {"stream_id": s_bob["id"], "battle_id": invited["battle"]["id"]})

                async def studio(check: Any, what: str) -> dict[str, Any]:
                    deadline = time.monotonic() + 25
                    state: dict[str, Any] = {}
                    while time.monotonic() < deadline:
                        state = await page.evaluate(STUDIO_STATE)
                        if check(state):
                            return state
                        await asyncio.sleep(0.1)
                    raise AssertionError(f"timed out waiting for {what}: {state}")

                shown = await studio(lambda s: s["pk"] == "live" and s["opponent"] > 10, "the opponent decoding")
                assert shown["quit"] and "Bob" in shown["status"]
                sock = await open_client(n1.url, fan["access_token"])
                await sock.ok("gift:send", {"stream_id": s_ann["id"], "gift_id": "rose", "idempotency_key": "s1"})
                await studio(lambda s: s["ours"] == "8" and s["theirs"] == "0", "the score")
        finally:
            await pub_ann.close()
            await pub_bob.close()
