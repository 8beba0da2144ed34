"""Headless Chromium pages for SFU tests: a WHIP publisher (fake camera) and WHEP viewers, driven by Playwright.

Pages are served by Playwright route interception on the hub's own origin, so their ``fetch`` calls are
same-origin. Chromium runs from the system install, never a downloaded one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from playwright.async_api import BrowserContext, Page, Route, async_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
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
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

PAGE_PATH = "/__sfu_test__/page.html"

SCRIPT = """
async function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise(resolve => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
}
async function post(url, sdp, headers) {
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp', ...headers}, body: sdp});
  const body = await r.text();
  if (r.status !== 201) throw new Error(`POST ${url}: ${r.status} ${body}`);
  return {answer: body, location: r.headers.get('Location')};
}
// simulcast: the sendEncodings of the video (rid, scaleResolutionDownBy, maxBitrate), or nothing for one stream.
window.publish = async (url, key, codec, simulcast, size) => {
  // three layers from 960x540 at 15 fps: Chromium keeps all three on even on a busy machine
  const video = size ||
    (simulcast ? {width: 960, height: 540, frameRate: 15} : {width: 640, height: 480, frameRate: 30});
  const media = await navigator.mediaDevices.getUserMedia({video, audio: true});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  for (const track of media.getTracks()) {
    const init = {direction: 'sendonly'};
    if (simulcast && track.kind === 'video') init.sendEncodings = simulcast;
    const transceiver = pc.addTransceiver(track, init);
    if (track.kind === 'video') {
      const caps = RTCRtpSender.getCapabilities('video').codecs;
      const h264 = codec.toLowerCase() === 'video/h264';
      const chosen = caps.filter(c => c.mimeType.toLowerCase() === codec.toLowerCase() &&
        (!h264 || /packetization-mode=1/.test(c.sdpFmtpLine) && /42e01f/.test(c.sdpFmtpLine)));
      transceiver.setCodecPreferences([...chosen, ...caps.filter(c => c.mimeType === 'video/rtx')]);
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const {answer, location} = await post(url, pc.localDescription.sdp, {'Authorization': 'Bearer ' + key});
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  return location;
};
window.watch = async (url) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const {answer, location} = await post(url, pc.localDescription.sdp, {});
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  return location;
};
window.inbound = async () => {
  const report = await window.pc.getStats();
  const out = {video: null, audio: null, state: window.pc.connectionState};
  for (const r of report.values()) {
    if (r.type !== 'inbound-rtp') continue;
    const codec = r.codecId && report.get(r.codecId);
    out[r.kind] = {
      framesDecoded: r.framesDecoded || 0, packetsReceived: r.packetsReceived || 0, width: r.frameWidth || 0,
      mimeType: codec ? codec.mimeType : null, pliCount: r.pliCount || 0, nackCount: r.nackCount || 0,
      samples: r.totalSamplesReceived || 0, packetsLost: r.packetsLost || 0,
      freezeCount: r.freezeCount || 0, freezesS: r.totalFreezesDuration || 0,
      framesReceived: r.framesReceived || 0, framesDropped: r.framesDropped || 0,
      keyFramesDecoded: r.keyFramesDecoded || 0,
    };
  }
  return out;
};
// the longest time without a newly decoded video frame, polled every 50 ms in the page (``longestGap`` returns it in
// seconds, open gap included, and starts over): what a viewer sees as its longest freeze
window.watchGaps = () => {
  if (window.gaps) return;
  const gaps = window.gaps = {frames: -1, at: performance.now(), longest: 0};
  setInterval(async () => {
    const report = await window.pc.getStats();
    for (const r of report.values()) {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') continue;
      const now = performance.now();
      if ((r.framesDecoded || 0) !== gaps.frames) {
        if (gaps.frames >= 0) gaps.longest = Math.max(gaps.longest, now - gaps.at);
        gaps.frames = r.framesDecoded || 0;
        gaps.at = now;
      }
    }
  }, 50);
};
window.longestGap = () => {
  const gaps = window.gaps;
  const longest = Math.max(gaps.longest, performance.now() - gaps.at);
  gaps.longest = 0;
  return longest / 1000;
};
window.outbound = async () => {
  const report = await window.pc.getStats();
  for (const r of report.values()) {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      return {framesEncoded: r.framesEncoded || 0, framesSent: r.framesSent || 0, pliCount: r.pliCount || 0};
    }
  }
  return null;
};
// this page's local UDP port on its nominated ICE pair (for per-viewer shaping)
window.localPort = async () => {
  const report = await window.pc.getStats();
  for (const r of report.values()) {
    if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
      const local = report.get(r.localCandidateId);
      if (local) return local.port;
    }
  }
  return 0;
};
// the browser's view of its uplink: its bandwidth estimate and what its encoders are asked for (bits per second)
window.uplink = async () => {
  const report = await window.pc.getStats();
  const out = {available: 0, target: 0, bytesSent: 0, retransmittedBytesSent: 0, keyFramesEncoded: 0, nackCount: 0,
    pliCount: 0, framesEncoded: 0, limitation: null, width: 0};
  for (const r of report.values()) {
    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) {
      out.available = r.availableOutgoingBitrate;
    }
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      out.target += r.targetBitrate || 0;
      out.bytesSent += r.bytesSent || 0;  // payload bytes, retransmissions included
      out.retransmittedBytesSent += r.retransmittedBytesSent || 0;
      out.keyFramesEncoded += r.keyFramesEncoded || 0;
      out.nackCount += r.nackCount || 0;
      out.pliCount += r.pliCount || 0;
      out.framesEncoded += r.framesEncoded || 0;
      out.limitation = r.qualityLimitationReason || out.limitation;
      out.width = Math.max(out.width, r.frameWidth || 0);
    }
  }
  return out;
};
window.layers = async () => {
  const report = await window.pc.getStats();
  const out = [];
  for (const r of report.values()) {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      out.push({rid: r.rid || null, width: r.frameWidth || 0, height: r.frameHeight || 0, framesSent: r.framesSent || 0,
        limitation: r.qualityLimitationReason || null, active: r.active});
    }
  }
  return out;
};
"""

HTML = f"<!doctype html><html><head><meta charset='utf-8'><script>{SCRIPT}</script></head><body></body></html>"


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[BrowserContext]:
    with tempfile.TemporaryDirectory(prefix="sfu-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=FLAGS, headless=True
            )
            try:
                yield context
            finally:
                await context.close()


async def open_page(context: BrowserContext, base_url: str) -> Page:
    page = await context.new_page()

    async def serve(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=HTML)

    await page.route(base_url + PAGE_PATH, serve)
    await page.goto(base_url + PAGE_PATH)
    return page


async def inbound(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.inbound()")
    return result


async def outbound(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.outbound()")
    return result
