"""SFU benchmark: one publisher (pre-encoded VP8 640x480@30, ~1.4 Mbps), N viewers in separate processes.

Every role is its own process: the server (``--mode sfu``: our RTP forwarding; ``--mode relay``: aiortc's
``MediaRelay``, decoding once and encoding per viewer), the publisher, and viewer processes hosting up to
``--per-process`` viewers each. They signal over a line-JSON TCP socket on 127.0.0.1.

The server reports its own CPU time (all threads) over a measurement window, the packets it forwarded, the
sampled residence time (tap in → each viewer's ``sendto``) and how many codec objects it created. Viewers decode
their first frame (time to first frame) and then only count packets, so that 200 viewers fit on the machine.

    .venv/bin/python scripts/bench_sfu.py --viewers 1,10,50,100 --relay-viewers 1,5,10 --window 8
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FPS = 30
WIDTH, HEIGHT = 640, 480
BITRATE = 1_400_000
GOP = 60  # a keyframe every 2 s, like OBS's default keyint
NOISE_ROWS = 40


# -- the pre-encoded source ------------------------------------------------------------------------------------


def encode_source(path: Path, seconds: int = 10) -> None:
    """Encode ``seconds`` of a moving, partly noisy 640x480 picture to VP8 once; the publisher loops it."""
    import av

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.bit_rate = BITRATE
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.time_base = fractions.Fraction(1, FPS)
    codec.gop_size = GOP
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "end-usage": "cbr"}
    codec.options["minrate"] = codec.options["maxrate"] = str(BITRATE)
    codec.options["bufsize"] = str(BITRATE)
    ramp = bytes((i * 3) % 256 for i in range(WIDTH + HEIGHT + 512))
    chroma = bytes([128]) * (WIDTH * HEIGHT // 4)
    frames: list[list[Any]] = []
    for index in range(seconds * FPS):
        shift = (index * 3) % 256
        rows = [ramp[y + shift : y + shift + WIDTH] for y in range(HEIGHT)]
        noise_top = (index * 4) % (HEIGHT - NOISE_ROWS)
        for y in range(noise_top, noise_top + NOISE_ROWS):  # a band of noise keeps the bitrate up
            rows[y] = os.urandom(WIDTH)
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(b"".join(rows))
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = index
        frame.time_base = fractions.Fraction(1, FPS)
        data = b"".join(bytes(p) for p in codec.encode(frame))
        frames.append([data.hex(), index % GOP == 0])
    path.write_text(json.dumps(frames))


# -- control channel -------------------------------------------------------------------------------------------


async def request(port: int, message: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    result: dict[str, Any] = json.loads(line)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


# -- server ----------------------------------------------------------------------------------------------------


async def run_server(mode: str, port_file: Path) -> None:
    import aiortc.codecs
    import aiortc.codecs.vpx
    import aiortc.rtcrtpreceiver
    import aiortc.rtcrtpsender
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from sfu import SfuService, SfuSettings
    from sfu import aiortc_hooks as hooks

    codec_objects = {"encoders": 0, "decoders": 0}
    real_encoder, real_decoder = aiortc.rtcrtpsender.get_encoder, aiortc.rtcrtpreceiver.get_decoder

    def counting_encoder(codec: Any) -> Any:
        codec_objects["encoders"] += 1
        return real_encoder(codec)

    def counting_decoder(codec: Any) -> Any:
        codec_objects["decoders"] += 1
        return real_decoder(codec)

    aiortc.rtcrtpsender.get_encoder = counting_encoder  # type: ignore[assignment]
    aiortc.rtcrtpreceiver.get_decoder = counting_decoder  # type: ignore[assignment]
    aiortc.codecs.vpx.DEFAULT_BITRATE = BITRATE  # the relay baseline encodes at the publisher's bitrate
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), connect_timeout_s=60, media_timeout_s=30))
    relay = MediaRelay()
    relay_source: list[Any] = []
    relay_pcs: list[RTCPeerConnection] = []
    mark: dict[str, float] = {}

    def producers() -> list[Any]:
        return [p for r in service._routers.values() for p in r.producers.values()]

    async def answer_relay(offer: str, publishing: bool) -> str:
        pc = RTCPeerConnection()
        relay_pcs.append(pc)
        if publishing:
            pc.on("track", lambda track: relay_source.append(track))
        else:
            pc.addTrack(relay.subscribe(relay_source[0]))
        with hooks.host_addresses(("127.0.0.1",)):
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = json.loads(await reader.readline())
        op = message["op"]
        try:
            if op in ("publish", "subscribe") and mode == "relay":
                reply: dict[str, Any] = {"sdp": await answer_relay(message["sdp"], op == "publish")}
            elif op == "publish":
                reply = {"sdp": (await service.publish("bench", message["sdp"]))[1]}
            elif op == "subscribe":
                reply = {"sdp": (await service.subscribe("bench", message["sdp"]))[1]}
            elif op == "mark":
                for producer in producers():
                    producer.residence_us.clear()
                mark.update(
                    cpu=time.process_time(),
                    wall=time.monotonic(),
                    forwarded=sum(p.forwarded for p in producers()),
                    fanout=sum(p.fanout_s for p in producers()),
                    sent=_relay_sent(relay_pcs),
                )
                reply = {}
            elif op == "measure":
                residence = sorted(x for p in producers() for x in p.residence_us)
                forwarded = sum(p.forwarded for p in producers()) - mark["forwarded"]
                if mode == "relay":
                    forwarded = _relay_sent(relay_pcs) - int(mark["sent"])
                reply = {
                    "cpu_s": time.process_time() - mark["cpu"],
                    "wall_s": time.monotonic() - mark["wall"],
                    "forwarded": forwarded,
                    "fanout_s": sum(p.fanout_s for p in producers()) - mark["fanout"],
                    "residence_p50_us": _pct(residence, 50),
                    "residence_p99_us": _pct(residence, 99),
                    "codec_objects": codec_objects,
                }
            else:
                reply = {"error": f"unknown op {op}"}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 22)
    _write(port_file, str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


def _relay_sent(pcs: list[Any]) -> int:
    total = 0
    for pc in pcs:
        for transceiver in pc.getTransceivers():
            total += transceiver.sender.__dict__.get("_RTCRtpSender__packet_count", 0)
    return total


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


# -- publisher -------------------------------------------------------------------------------------------------


async def run_publisher(port: int, source: Path) -> None:
    import av
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack

    from sfu import aiortc_hooks as hooks

    frames = [(bytes.fromhex(data), key) for data, key in json.loads(_read(source))]

    class Looped(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.index = 0
            self.start = time.monotonic()

        async def recv(self) -> Any:
            self.index += 1
            wait = self.start + self.index / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            packet = av.Packet(frames[self.index % len(frames)][0])
            packet.pts = self.index * (90000 // FPS)
            packet.time_base = fractions.Fraction(1, 90000)
            return packet

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(Looped(), direction="sendonly")
    caps = [c for c in transceiver.sender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")]
    transceiver.setCodecPreferences(caps)
    with hooks.host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    answer = await request(port, {"op": "publish", "sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await asyncio.Event().wait()


# -- viewers ---------------------------------------------------------------------------------------------------


async def run_viewers(port: int, count: int, sequential: bool = False) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs.vpx import Vp8Decoder
    from aiortc.jitterbuffer import JitterBuffer

    from sfu import aiortc_hooks as hooks

    class Tap:
        """Decodes the first frame (time to first frame), then only counts packets and frames."""

        def __init__(self) -> None:
            self.buffer: JitterBuffer | None = JitterBuffer(capacity=512, is_video=True)
            self.decoder: Vp8Decoder | None = Vp8Decoder()
            self.first_frame_at: float | None = None
            self.packets = 0
            self.frames = 0

        def add(self, packet: Any) -> tuple[bool, None]:
            self.packets += 1
            self.frames += packet.marker
            if self.buffer is not None and self.decoder is not None:
                _, frame = self.buffer.add(packet)
                if frame is not None and self.decoder.decode(frame):
                    self.first_frame_at = time.monotonic()
                    self.buffer = self.decoder = None
            return False, None

    viewers: list[dict[str, Any]] = []

    async def join() -> None:
        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver("video", direction="recvonly")
        tap = Tap()
        receiver = transceiver.receiver
        setattr(receiver, hooks.RECEIVER_JITTER_BUFFER, tap)
        receiver.__dict__["_RTCRtpReceiver__remote_bitrate_estimator"] = None  # no REMB work in the viewer
        entry: dict[str, Any] = {"pc": pc, "tap": tap, "started": time.monotonic(), "connected": None}

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and entry["connected"] is None:
                entry["connected"] = time.monotonic()

        with hooks.host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        entry["started"] = time.monotonic()
        answer = await request(port, {"op": "subscribe", "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        viewers.append(entry)

    if sequential:  # probes: one at a time, each waiting (at most 3 s) for its first frame
        for _ in range(count):
            await join()
            deadline = time.monotonic() + 3
            while viewers[-1]["tap"].first_frame_at is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
    else:
        for start in range(0, count, 5):  # join in small groups
            await asyncio.gather(*(join() for _ in range(min(5, count - start))))
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"joined": len(viewers)}), flush=True)
    while line := await reader.readline():
        command = line.decode().strip()
        taps = [v["tap"] for v in viewers]
        if command == "status":
            print(json.dumps({"first_frames": sum(t.first_frame_at is not None for t in taps)}), flush=True)
        elif command == "counts":
            print(json.dumps({"packets": [t.packets for t in taps], "frames": [t.frames for t in taps]}), flush=True)
        elif command == "report":
            print(
                json.dumps(
                    {
                        "first_frame_s": [
                            v["tap"].first_frame_at - v["started"] for v in viewers if v["tap"].first_frame_at
                        ],
                        "first_frame_after_connect_s": [
                            v["tap"].first_frame_at - v["connected"]
                            for v in viewers
                            if v["tap"].first_frame_at and v["connected"]
                        ],
                    }
                ),
                flush=True,
            )
        elif command == "quit":
            break
    for v in viewers:
        await v["pc"].close()


# -- in isolation -----------------------------------------------------------------------------------------------


def _simulcast_offer(offer: str, rids: tuple[str, ...]) -> str:
    """An aiortc publisher's offer, its video section made to announce ``rids`` as simulcast (RFC 8851/8853/8852).
    aiortc still sends its own single stream, which the SFU drops (no rid names it); the benchmark pushes the layers'
    packets into the tap itself."""
    out: list[str] = []
    video = False
    for line in offer.split("\r\n"):
        out.append(line)
        if line.startswith("m="):
            video = line.startswith("m=video")
        elif video and line.startswith("a=mid:"):
            out.append("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")
            out.extend(f"a=rid:{rid} send" for rid in rids)
            out.append("a=simulcast:send " + ";".join(rids))
    return "\r\n".join(out)


def _vp8_key(width: int) -> bytes:
    """The first packet of a VP8 key frame, width x 9/16 width (RFC 6386 section 9.1 header)."""
    height = width * 9 // 16
    return bytes((0x10, 0, 0, 0, 0x9D, 1, 0x2A, width & 255, width >> 8, height & 255, height >> 8))


#: Simulcast micro benchmark: the layers, lowest first, as (rid, width, packets per 10 ingress packets).
MICRO_LAYERS = (("l", 320, 1), ("m", 640, 3), ("h", 1280, 6))


async def run_micro(
    viewers: int, rounds: int = 5, packets: int = 300, simulcast: bool = False, record: bool | None = None
) -> dict[str, Any]:
    """The forwarding path alone: one process, ``viewers`` connected aiortc viewers (taps, no decoding), and
    ``packets`` synthetic 1100-byte VP8 packets pushed through the producer's tap per round. Thread CPU time from
    the tap to the last viewer's ``sendto``, divided by the packets forwarded (and by the packets taken in).

    ``simulcast``: the publisher announces three layers; the packets go through the layer demultiplexer, 10/30/60 %
    to layers l/m/h, and the viewers ask for low, medium and high in turn (a third on each layer).

    ``record`` (not None): every third packet ends a frame and the first one of each round is a keyframe, for both
    runs of a pair; True also records the stream (``sfu/recorder.py``: the tap's append on the forwarding path, the
    writer task muxing between rounds), so the pair shows what a recording adds to the forwarding path."""
    from aiortc.rtp import RtpPacket

    from sfu import SfuService, SfuSettings
    from tests.support.sfu_peers import Publisher, Viewer

    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",)))
    publisher = Publisher(audio=False)
    offer = await publisher.offer()
    rids = tuple(rid for rid, _, _ in MICRO_LAYERS)
    await publisher.accept((await service.publish("micro", _simulcast_offer(offer, rids) if simulcast else offer))[1])
    router = service._routers["micro"]
    seq = {rid: 1000 * index for index, rid in enumerate(rids)}
    ts = 90000
    if simulcast:
        tap = router.layers[0]._upstream._demux.on_packet  # type: ignore[attr-defined]
        for index, (rid, width, _) in enumerate(MICRO_LAYERS):  # a keyframe per layer, binding its SSRC by rid
            packet = RtpPacket(payload_type=97, sequence_number=seq[rid], timestamp=ts, ssrc=7000 + index)
            packet.payload = _vp8_key(width)
            packet.marker = 1
            packet.extensions.rtp_stream_id = rid
            tap(packet)
        router.layer_infos()
    clients = []
    for index in range(viewers):
        viewer = Viewer(audio=False)
        session_id, answer = await service.subscribe("micro", await viewer.offer())
        if simulcast:
            await service.set_layer(session_id, ("low", "medium", "high")[index % 3])
        await viewer.accept(answer)
        clients.append(viewer)
    deadline = time.monotonic() + 30
    if simulcast:  # keep every layer alive (a keyframe each) until the watchdog has placed every viewer
        consumers = [c for c in router.consumers.values() if c.kind == "video"]
        while time.monotonic() < deadline and not (len(consumers) == viewers and all(c.started for c in consumers)):
            ts += 3000
            for index, (rid, width, _) in enumerate(MICRO_LAYERS):
                seq[rid] = (seq[rid] + 1) & 0xFFFF
                packet = RtpPacket(payload_type=97, sequence_number=seq[rid], timestamp=ts, ssrc=7000 + index)
                packet.payload = _vp8_key(width)
                packet.marker = 1
                tap(packet)
            await asyncio.sleep(0.1)
            consumers = [c for c in router.consumers.values() if c.kind == "video"]
    else:
        while time.monotonic() < deadline and not all(v.video and v.video.count > 2 for v in clients):
            await asyncio.sleep(0.1)

    class Drop:
        def add(self, packet: Any) -> tuple[bool, None]:
            return False, None

    for viewer in clients:  # from here on the viewers only drain their sockets
        viewer.pc.getTransceivers()[0].receiver.__dict__["_RTCRtpReceiver__jitter_buffer"] = Drop()
    payload = bytes((0x10, 0x01)) + bytes(1100)
    if simulcast:
        schedule = [(7000 + i, rid) for i, (rid, _, share) in enumerate(MICRO_LAYERS) for _ in range(share)]
        producers = list(router.layers)
    else:
        producer = next(p for p in router.producers.values() if p.kind == "video")
        tap = producer.on_packet
        schedule = [(producer.media_ssrc or 0, "single")]
        seq["single"], ts = producer.max_seq, producer.max_ts
        producers = [producer]
    recording_dir = None
    if record:
        import tempfile

        from sfu.recorder import RecordingSpec

        recording_dir = tempfile.mkdtemp(prefix="bench-rec-")
        await service.start_recording("micro", RecordingSpec("bench", recording_dir, segment_s=2.0))
    costs, ingress_costs = [], []
    keyframe = _vp8_key(1280) + bytes(1100)
    for round_index in range(rounds):
        cpu, forwarded = time.thread_time(), sum(p.forwarded for p in producers)
        for index in range(packets):  # synchronous: the live publisher's packets do not interleave
            ssrc, rid = schedule[index % len(schedule)]
            seq[rid] = (seq[rid] + 1) & 0xFFFF
            frame = (round_index * packets + index) // 3
            packet = RtpPacket(
                payload_type=97,
                sequence_number=seq[rid],
                timestamp=(ts + (frame if record is not None else index) * 3000) & 0xFFFFFFFF,
            )
            packet.ssrc = ssrc
            packet.payload = keyframe if record is not None and index == 0 else payload
            if record is not None:
                packet.marker = 1 if index % 3 == 2 else 0
            tap(packet)
        spent = time.thread_time() - cpu
        costs.append(spent / (sum(p.forwarded for p in producers) - forwarded) * 1e6)
        ingress_costs.append(spent / packets * 1e6)
        await asyncio.sleep(0.3)
    recording = service.stats()["recordings"]
    for viewer in clients:
        await viewer.close()
    await publisher.close()
    await service.close()
    result = {
        "mode": "micro-simulcast" if simulcast else "micro",
        "viewers": viewers,
        "us_per_forwarded_packet": round(statistics.median(costs), 2),
        "us_per_ingress_packet": round(statistics.median(ingress_costs), 2),
    }
    if record is not None:
        result["recording"] = bool(record)
    if recording:
        result["recorder_writer_us_per_packet"] = recording[0]["writer_us_per_packet"]
        result["recorder_dropped"] = recording[0]["dropped"]
        result["recorder_segments"] = recording[0]["segments"]
    if recording_dir is not None:
        import shutil

        shutil.rmtree(recording_dir, ignore_errors=True)
    return result


# -- orchestration ---------------------------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def ask(proc: subprocess.Popen[str], command: str) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    result: dict[str, Any] = json.loads(proc.stdout.readline())
    return result


def run_step(mode: str, viewers: int, per_process: int, window: float, source: Path, probes: int) -> dict[str, Any]:
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        try:
            procs.append(spawn("--role", "server", "--mode", mode, "--port-file", str(port_file)))
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.05)
            port = port_file.read_text()
            procs.append(spawn("--role", "publisher", "--port", port, "--source", str(source)))
            time.sleep(2.0)
            groups = [per_process] * (viewers // per_process) + (
                [viewers % per_process] if viewers % per_process else []
            )
            viewer_procs = [spawn("--role", "viewers", "--port", port, "--count", str(n)) for n in groups]
            procs += viewer_procs
            for proc in viewer_procs:
                assert proc.stdout is not None
                json.loads(proc.stdout.readline())  # joined
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if sum(ask(p, "status")["first_frames"] for p in viewer_procs) >= viewers:
                    break
                time.sleep(0.5)
            time.sleep(2.0)
            asyncio.run(request(int(port), {"op": "mark"}))
            before = [ask(p, "counts") for p in viewer_procs]
            time.sleep(window)
            server = asyncio.run(request(int(port), {"op": "measure"}))
            after = [ask(p, "counts") for p in viewer_procs]
            reports = [ask(p, "report") for p in viewer_procs]
            probe_report: dict[str, Any] = {"first_frame_s": [], "first_frame_after_connect_s": []}
            if probes:
                probe = spawn("--role", "viewers", "--port", port, "--count", str(probes), "--sequential")
                procs.append(probe)
                assert probe.stdout is not None
                if probe.stdout.readline():  # an empty line: the probe process failed (see its stderr)
                    probe_report = ask(probe, "report")
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    packets = [
        b - a for x, y in zip(before, after, strict=True) for a, b in zip(x["packets"], y["packets"], strict=True)
    ]
    frames = [b - a for x, y in zip(before, after, strict=True) for a, b in zip(x["frames"], y["frames"], strict=True)]
    first = sorted(s for r in reports for s in r["first_frame_s"])
    first_connected = sorted(s for r in reports for s in r["first_frame_after_connect_s"])
    probe_first = sorted(probe_report["first_frame_s"])
    probe_connected = sorted(probe_report["first_frame_after_connect_s"])
    cpu = server["cpu_s"] / server["wall_s"]
    forwarded = server["forwarded"]
    return {
        "mode": mode,
        "viewers": viewers,
        "server_cpu_pct": round(cpu * 100, 1),
        "cpu_per_viewer_pct": round(cpu * 100 / viewers, 3),
        "forwarded_pps": round(forwarded / server["wall_s"]),
        "pps_per_core": round(forwarded / server["cpu_s"]) if server["cpu_s"] else None,
        "us_per_packet": round(server["cpu_s"] / forwarded * 1e6, 1) if forwarded else None,
        "fanout_us_per_packet": round(server["fanout_s"] / forwarded * 1e6, 1) if forwarded and mode == "sfu" else None,
        "residence_p50_us": _round(server["residence_p50_us"]),
        "residence_p99_us": _round(server["residence_p99_us"]),
        "viewer_fps_median": round(statistics.median(frames) / window, 1) if frames else None,
        "viewer_fps_min": round(min(frames) / window, 1) if frames else None,
        "viewer_pps_median": round(statistics.median(packets) / window, 1) if packets else None,
        "first_frame_p50_ms": _ms(first, 50),
        "first_frame_p95_ms": _ms(first, 95),
        "first_frame_after_connect_p50_ms": _ms(first_connected, 50),
        "first_frame_after_connect_p95_ms": _ms(first_connected, 95),
        "viewers_with_a_frame": len(first),
        "late_join_first_frame_p50_ms": _ms(probe_first, 50),
        "late_join_first_frame_p95_ms": _ms(probe_first, 95),
        "late_join_after_connect_p50_ms": _ms(probe_connected, 50),
        "late_join_after_connect_p95_ms": _ms(probe_connected, 95),
        "late_joiners_with_a_frame": f"{len(probe_first)}/{probes}",
        "server_codec_objects": server["codec_objects"],
        "loadavg": os.getloadavg()[0],
    }


def _pairs(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return list(zip(before, after, strict=True))


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _read(path: Path) -> str:
    return path.read_text()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ms(values: list[float], q: float) -> float | None:
    value = _pct(values, q)
    return None if value is None else round(value * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="bench", choices=["bench", "server", "publisher", "viewers"])
    parser.add_argument("--mode", default="sfu", choices=["sfu", "relay"])
    parser.add_argument("--viewers", default="1,10,50,100,200", help="comma list of N for the SFU")
    parser.add_argument("--relay-viewers", default="1,5,10", help="comma list of N for the MediaRelay baseline")
    parser.add_argument("--per-process", type=int, default=25, help="viewers per viewer process")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per step")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--probes", type=int, default=20, help="late joiners, one at a time, after each window")
    parser.add_argument("--sequential", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--micro", default="", help="comma list of N: the forwarding path alone, in one process")
    parser.add_argument(
        "--micro-simulcast", default="", help="comma list of N: as --micro, three simulcast layers, N/3 viewers each"
    )
    parser.add_argument(
        "--micro-record",
        default="",
        help="comma list of N: as --micro, without and with a recording of the stream, in alternating pairs",
    )
    parser.add_argument("--pairs", type=int, default=3, help="--micro-record: pairs per N")
    parser.add_argument("--port", type=int)
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--count", type=int)
    parser.add_argument("--source", type=Path)
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args.mode, args.port_file))
        return
    if args.role == "publisher":
        asyncio.run(run_publisher(args.port, args.source))
        return
    if args.role == "viewers":
        asyncio.run(run_viewers(args.port, args.count, args.sequential))
        return
    results: list[dict[str, Any]] = []
    for n in [int(x) for x in args.micro.split(",") if x]:
        results.append(asyncio.run(run_micro(n)))
        print(json.dumps(results[-1]), flush=True)
    for n in [int(x) for x in args.micro_simulcast.split(",") if x]:
        results.append(asyncio.run(run_micro(n, simulcast=True)))
        print(json.dumps(results[-1]), flush=True)
    for n in [int(x) for x in args.micro_record.split(",") if x]:
        for _ in range(args.pairs):
            for record in (False, True):
                results.append(asyncio.run(run_micro(n, record=record)))
                print(json.dumps(results[-1]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.json"
        encode_source(source)
        steps = [("sfu", int(n)) for n in args.viewers.split(",") if n] + [
            ("relay", int(n)) for n in args.relay_viewers.split(",") if n
        ]
        for mode, n in steps:
            try:
                result = run_step(mode, n, args.per_process, args.window, source, args.probes)
            except (RuntimeError, ValueError, OSError) as exc:
                result = {"mode": mode, "viewers": n, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
