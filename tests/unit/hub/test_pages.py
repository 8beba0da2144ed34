"""The hub serves its browser pages and their static files itself, with the client settings and a strict policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

PAGES = ["/", "/watch/some-stream", "/studio", "/console", "/wallet", "/notifications", "/users/someone"]


@pytest.mark.parametrize("path", PAGES)
async def test_each_page_is_html_with_the_client_settings_and_a_strict_content_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    block = re.search(r'<script type="application/json" id="hub-config">(.*?)</script>', r.text)
    assert block is not None, "the page lacks its settings block"
    config = json.loads(block.group(1))
    assert config["ice_servers"] == []  # the test settings' HUB_ICE_SERVERS
    assert "secret" not in block.group(1).lower()


async def test_scripts_styles_and_the_vendored_socketio_client_are_served_locally(client: httpx.AsyncClient) -> None:
    page = (await client.get("/studio")).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in [*assets, "/static/vendor/socket.io.esm.min.js", "/static/js/api.js", "/static/img/gifts/rose.svg"]:
        r = await client.get(asset)
        assert r.status_code == 200, asset
    sio = (await client.get("/static/vendor/socket.io.esm.min.js")).text
    assert sio.startswith("/*!\n * Socket.IO v4.8.1") and "Released under the MIT License" in sio[:200]


async def test_a_missing_static_file_is_a_404_not_a_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/js/nope.js")
    assert r.status_code == 404
    assert (await client.get("/static/../hub/settings.py")).status_code == 404


def test_russian_and_english_have_the_same_ui_texts() -> None:
    from hub.pages import STATIC_DIR

    def keys(lang: str) -> set[str]:
        text = (STATIC_DIR / "js" / "locales" / f"{lang}.js").read_text(encoding="utf-8")
        # plural forms differ by language (Russian has few/many), so compare the base keys
        return {re.sub(r"\.(one|few|many|other)$", "", k) for k in re.findall(r'^  "([^"]+)":', text, re.M)}

    en, ru = keys("en"), keys("ru")
    assert len(en) > 200
    assert en - ru == set(), "texts missing in Russian"
    assert ru - en == set(), "texts only in Russian"


def test_every_text_the_pages_ask_for_exists() -> None:
    from hub.pages import STATIC_DIR

    en_text = (STATIC_DIR / "js" / "locales" / "en.js").read_text(encoding="utf-8")
    known = set(re.findall(r'^  "([^"]+)":', en_text, re.M))
    known |= {re.sub(r"\.(one|few|many|other)$", "", k) for k in known}
    wanted: set[str] = set()
    for path in [*(STATIC_DIR / "js").glob("*.js"), *STATIC_DIR.glob("*.html")]:
        source = path.read_text(encoding="utf-8")
        wanted |= set(re.findall(r'\btn?\(\s*"([a-z_][a-z0-9_.]*)"', source))
        wanted |= set(re.findall(r'data-i18n(?:-placeholder|-title|-aria)?="([a-z_][a-z0-9_.]*)"', source))
        wanted |= set(re.findall(r'(?:loginGate|showOverlay)\([^,]+?,?\s*"([a-z_]+\.[a-z0-9_.]+)"', source))
    assert len(wanted) > 100
    assert wanted - known == set(), "the pages use texts no dictionary has"


JS = Path(__file__).resolve().parents[3] / "hub" / "static" / "js"
ROOM_PAGES = ("studio.js", "viewer.js", "console.js")
# `x.a ?? x.b`: guessing between two names of one field (the protocol names exactly one)
FIELD_GUESS = re.compile(r"\b([A-Za-z_]\w*)\??\.(\w+)\s*\?\?\s*\1\??\.(\w+)")


def test_the_room_pages_share_one_room_session_and_never_talk_to_the_room_themselves() -> None:
    for page in ROOM_PAGES:
        source = (JS / page).read_text()
        assert 'from "./room-session.js"' in source, f"{page} does not use the shared room session"
        for own in ("connectLive(", '"stream:join"', '"chat:send"', '"mod:action"', '"chat:message"'):
            assert own not in source, f"{page} does {own} itself instead of through room-session.js"


def test_no_page_guesses_between_field_names() -> None:
    guesses = [
        f"{path.name}:{n}: {m.group(0)}"
        for path in sorted(JS.glob("*.js"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for m in FIELD_GUESS.finditer(line)
        if m.group(2) != m.group(3)
    ]
    assert not guesses, "read the field docs/protocol.md names:\n" + "\n".join(guesses)
    assert FIELD_GUESS.search("setViewers(ack.viewers ?? ack.viewer_count ?? 0)")  # the check can fail
