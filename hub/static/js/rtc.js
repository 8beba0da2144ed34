// WebRTC over Socket.IO signaling. The SFU (aiortc) does not trickle ICE, so each offer is sent once its ICE
// gathering has completed, with every candidate inside the SDP.

import { hubConfig } from "./api.js";
import { call } from "./live.js";

const GATHER_TIMEOUT_MS = 4000;

function iceServers() {
  const servers = hubConfig().ice_servers;
  return Array.isArray(servers) ? servers : [];
}

export function waitForIceGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(finish, timeoutMs); // send what we have: host candidates come first
    function finish() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") finish();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

async function negotiate(socket, pc, event, streamId) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await waitForIceGathering(pc);
  const ack = await call(socket, event, { stream_id: streamId, sdp: pc.localDescription.sdp }, 20000);
  await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
  return ack;
}

// Simulcast: three encodings of the camera, lowest first (RFC 8853 via sendEncodings with rids). The SFU gives each
// viewer the one it asks for (Auto/High/Medium/Low on the viewer page) and switches at keyframes.
const LAYERS = [
  { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 2_500_000 },
];

/** The sendEncodings for a camera track: the layers whose picture stays at least 90 pixels high, if two or more. */
export function simulcastEncodings(track) {
  const height = track.getSettings?.().height || 0;
  const layers = LAYERS.filter((layer) => height / layer.scaleResolutionDownBy >= 90);
  return layers.length >= 2 ? layers : null;
}

function addVideo(pc, track, mediaStream) {
  const sendEncodings = simulcastEncodings(track);
  if (sendEncodings) {
    try {
      return pc.addTransceiver(track, { direction: "sendonly", streams: [mediaStream], sendEncodings });
    } catch {
      // a browser without simulcast for this track: one encoding, below
    }
  }
  return pc.addTransceiver(track, { direction: "sendonly", streams: [mediaStream] });
}

/** Publish a camera/microphone MediaStream; resolves the peer connection once the answer is applied. */
export async function publish(socket, streamId, mediaStream) {
  const pc = new RTCPeerConnection({ iceServers: iceServers() });
  for (const track of mediaStream.getTracks()) {
    if (track.kind === "video") addVideo(pc, track, mediaStream);
    else pc.addTransceiver(track, { direction: "sendonly", streams: [mediaStream] });
  }
  try {
    await negotiate(socket, pc, "rtc:publish", streamId);
  } catch (err) {
    pc.close();
    throw err;
  }
  return pc;
}

/** Receive a stream into a <video>; resolves the peer connection once the answer is applied. */
export async function subscribe(socket, streamId, video) {
  const pc = new RTCPeerConnection({ iceServers: iceServers() });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const remote = new MediaStream();
  pc.addEventListener("track", (e) => {
    remote.addTrack(e.track);
    if (video.srcObject !== remote) video.srcObject = remote;
    video.play().catch(() => {});
  });
  try {
    const ack = await negotiate(socket, pc, "rtc:subscribe", streamId);
    pc.hubSessionId = ack.session_id;
  } catch (err) {
    pc.close();
    throw err;
  }
  return pc;
}

/** The simulcast layer this viewer wants: "auto" (with the player's size in device pixels), "high", "medium" or
 * "low". Resolves the ack {layer, rid}. */
export function chooseLayer(socket, pc, layer, video) {
  const payload = { session_id: pc.hubSessionId, layer };
  if (layer === "auto" && video && video.clientWidth && video.clientHeight) {
    const scale = window.devicePixelRatio || 1;
    payload.width = Math.min(16384, Math.max(1, Math.round(video.clientWidth * scale)));
    payload.height = Math.min(16384, Math.max(1, Math.round(video.clientHeight * scale)));
  }
  return call(socket, "rtc:layer", payload, 10000);
}

/** Every ~2 s, report {fps, loss (percent), rtt (ms), framesDecoded, level: good|fair|poor}; returns a stop function. */
export function watchQuality(pc, onReport, intervalMs = 2000) {
  let previous = null;
  const timer = setInterval(async () => {
    if (pc.connectionState === "closed") return;
    let stats;
    try {
      stats = await pc.getStats();
    } catch {
      return;
    }
    let video = null;
    let rtt = null;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") video = s;
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime != null) {
        rtt = s.currentRoundTripTime * 1000;
      }
      if (s.type === "remote-inbound-rtp" && s.kind === "video" && s.roundTripTime != null && rtt == null) {
        rtt = s.roundTripTime * 1000;
      }
    });
    if (!video) return;
    const received = video.packetsReceived || 0;
    const lost = Math.max(0, video.packetsLost || 0);
    let loss = 0;
    if (previous) {
      const dr = received - previous.received;
      const dl = lost - previous.lost;
      loss = dr + dl > 0 ? (100 * Math.max(0, dl)) / (dr + dl) : 0;
    }
    previous = { received, lost };
    const fps = Math.round(video.framesPerSecond || 0);
    const level = fps >= 20 && loss < 2 && (rtt ?? 0) < 250 ? "good" : fps >= 10 && loss < 8 ? "fair" : "poor";
    onReport({ fps, loss: Math.round(loss * 10) / 10, rtt: Math.round(rtt ?? 0), framesDecoded: video.framesDecoded || 0, level });
  }, intervalMs);
  return () => clearInterval(timer);
}

export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === "videoinput"),
    microphones: devices.filter((d) => d.kind === "audioinput"),
  };
}

export async function openCamera({ cameraId, microphoneId } = {}) {
  return navigator.mediaDevices.getUserMedia({
    video: {
      ...(cameraId ? { deviceId: { exact: cameraId } } : {}),
      width: { ideal: 1280 },
      height: { ideal: 720 },
      frameRate: { ideal: 30 },
    },
    audio: microphoneId ? { deviceId: { exact: microphoneId } } : true,
  });
}
