"""Headless system Chromium for the page tests: fake camera and microphone, loopback WebRTC, nothing fetched from
the network; every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
PASSWORD = "correct horse"


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            await browser.close()


class PageLog:
    """Console errors and uncaught exceptions of a page, to assert that none happened."""

    def __init__(self, page: Page, ignore: tuple[str, ...] = ()) -> None:
        self.errors: list[str] = []
        self._ignore = ignore
        page.on("console", lambda m: self._console(m.type, f"{m.text} at {m.location.get('url', '?')}"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def _console(self, kind: str, text: str) -> None:
        if kind == "error" and not any(part in text for part in self._ignore):
            self.errors.append(text)


async def new_page(browser: Browser, *, locale: str = "en-US", viewport: dict[str, int] | None = None) -> Page:
    context: BrowserContext = await browser.new_context(
        locale=locale,
        viewport=viewport or {"width": 1280, "height": 800},
        permissions=["camera", "microphone", "clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def log_in(page: Page, email: str, opener: str = "#login") -> None:
    """Log in through the page's own dialog, as a person would."""
    await page.click(opener)
    await page.fill(".modal input[name=login]", email)
    await page.fill(".modal input[name=password]", PASSWORD)
    await page.click(".modal button[type=submit]")
    await page.wait_for_selector(".modal", state="detached")


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what} (last: {last!r})")


# Frames this <video> presented, counted by the browser itself (requestVideoFrameCallback), over `ms`.
COUNT_FRAMES = """([selector, ms]) => new Promise((resolve) => {
  const video = document.querySelector(selector);
  let frames = 0;
  const tick = () => { frames += 1; video.requestVideoFrameCallback(tick); };
  video.requestVideoFrameCallback(tick);
  setTimeout(() => resolve({frames, width: video.videoWidth, height: video.videoHeight}), ms);
})"""

# framesDecoded of the page's inbound video, from the viewer's own RTCPeerConnection.getStats().
FRAMES_DECODED = """async () => {
  const pc = window.livehub?.state?.pc;
  if (!pc) return 0;
  let decoded = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") decoded = s.framesDecoded || 0;
  });
  return decoded;
}"""
