"""The SFU hooks into private aiortc/aioice fields. If an upgrade moves any of them, these tests fail loudly."""

from __future__ import annotations

import asyncio
import copy
import inspect
import select
import socket
import time

import aioice.ice
import aiortc
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu import aiortc_hooks


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == "1.16.0", "the SFU's hooks were checked against aiortc 1.16.0 only"


def test_receiver_hands_every_packet_to_its_jitter_buffer() -> None:
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__jitter_buffer.add(packet)" in source
    assert "unwrap_rtx" in source  # RTX is unwrapped before the tap sees the packet
    assert "self._send_rtcp_nack(" in source
    assert "__decoder_queue.put" in source and "encoded_frame is not None" in source


def test_sender_routes_nack_and_pli_to_overridable_methods() -> None:
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in source
    assert "self._send_keyframe()" in source
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        assert f"self.{name}" in rtcp
    assert "self.__encoder = get_encoder(codec)" in inspect.getsource(RTCRtpSender._next_encoded_frame)


def test_dtls_and_ice_fields_used_by_the_fast_send_path_exist() -> None:
    assert "self._tx_srtp = Session(tx_policy)" in inspect.getsource(RTCDtlsTransport._setup_srtp)
    assert "self._send = self._connection.send" in inspect.getsource(RTCIceTransport.__init__)
    assert "self._nominated" in inspect.getsource(aioice.ice.Connection.sendto)
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in inspect.getsource(
        aioice.ice.Connection.sendto
    )
    assert "self.transport.sendto(data, addr)" in inspect.getsource(aioice.ice.StunProtocol.send_data)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


async def test_hooks_install_on_real_aiortc_objects() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="sendrecv")
        receiver, sender = video.receiver, video.sender
        seen: list[object] = []
        aiortc_hooks.install_receiver_tap(receiver, seen.append)
        assert isinstance(getattr(receiver, aiortc_hooks.RECEIVER_JITTER_BUFFER), aiortc_hooks.ReceiverTap)
        assert hasattr(receiver, aiortc_hooks.RECEIVER_REMOTE_STREAMS)
        assert aiortc_hooks.receiver_loss(receiver) == (0, 0)
        aiortc_hooks.count_receiver_nacks(receiver, lambda n: None)
        state = aiortc_hooks.sender_state(sender)
        assert state[aiortc_hooks.SENDER_PACKET_COUNT] == 0
        assert aiortc_hooks.sender_rtt(sender) is None

        async def retransmit(seq: int) -> None:
            return None

        aiortc_hooks.hook_sender(
            sender, retransmit=retransmit, keyframe_requested=lambda: None, report_received=lambda a, b: None
        )
        assert sender._retransmit is retransmit
        assert isinstance(sender._ssrc, int) and isinstance(sender._rtx_ssrc, int)
        dtls = sender.transport
        assert hasattr(dtls, aiortc_hooks.DTLS_TX_SRTP)
        connection = getattr(dtls.transport, aiortc_hooks.ICE_CONNECTION)
        assert getattr(connection, aiortc_hooks.ICE_NOMINATED) == {}
        assert aiortc_hooks.srtp_sender(dtls, lambda exc: None) is None  # not connected yet
    finally:
        await pc.close()


def test_host_address_override_applies_only_inside_its_context() -> None:
    with aiortc_hooks.host_addresses(("127.0.0.1",)):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)


def test_transport_cc_fields_exist() -> None:
    """The receiver's REMB estimator, its RTCP SSRC and the DTLS transport's RTCP entry point (``sfu/uplink.py``,
    the viewers' feedback); the transport-wide sequence number is parsed by aiortc's extension map."""
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__remote_bitrate_estimator is not None" in source
    assert "self.__rtcp_ssrc" in inspect.getsource(RTCRtpReceiver._set_rtcp_ssrc)
    assert "await self._handle_rtcp_data(data)" in inspect.getsource(RTCDtlsTransport._recv_next)
    assert "transport_sequence_number" in inspect.getsource(aiortc.rtp.HeaderExtensionsMap.configure)
    assert "self.receiver.data_received(data" in inspect.getsource(aioice.ice.StunProtocol.datagram_received)


async def test_transport_cc_hooks_install_on_real_aiortc_objects() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly")
        video._codecs = copy.deepcopy(aiortc.codecs.CODECS["video"][:2])  # what setRemoteDescription leaves
        aiortc_hooks.negotiate_transport_cc(video, 5, remb=False)
        feedback = [fb.type for fb in video._codecs[0].rtcpFeedback]
        assert "transport-cc" in feedback and "goog-remb" not in feedback
        assert any(
            ext.uri.endswith("transport-wide-cc-extensions-01") and ext.id == 5 for ext in video._headerExtensions
        )
        aiortc_hooks.stop_remb(video.receiver)
        assert getattr(video.receiver, aiortc_hooks.RECEIVER_REMB_ESTIMATOR) is None
        seen: list[tuple[int, int]] = []
        aiortc_hooks.record_transport_cc(video.receiver.transport, 5, aiortc_hooks.ArrivalClock(), seen.append)
        packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=0, ssrc=7, payload=b"x" * 10)
        packet.extensions.transport_sequence_number = 4242
        extensions = HeaderExtensionsMap()
        extensions.configure(RTCRtpParameters(headerExtensions=video._headerExtensions))
        connection = getattr(video.receiver.transport.transport, aiortc_hooks.ICE_CONNECTION)
        connection.data_received(packet.serialize(extensions), 1)
        assert [seq for seq, _ in seen] == [4242]
        aiortc_hooks.watch_transport_rtcp(video.receiver.transport, lambda data: None)
        assert aiortc_hooks.receiver_media_ssrc(video.receiver) == 0
    finally:
        await pc.close()


def _kernel_stamps_arrivals(sock: socket.socket, address: tuple[str, int], within_s: float = 5.0) -> bool:
    """Wait (blocking) until the kernel stamps this socket's datagrams as they arrive, not as they are read.

    When no socket on the machine wanted receive stamps before, Linux turns stamping on in a work item that runs after
    ``setsockopt`` returned (``net_enable_timestamp`` defers the static key). A datagram that arrives before it runs
    carries no stamp, and ``recvmsg`` then stamps it with the time it is read. A fresh CI machine hit exactly that:
    the stamp came 50 ms after the arrival. So probe with datagrams read directly (the event loop is blocked) until one
    comes back stamped before the read."""
    deadline = time.monotonic() + within_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        while time.monotonic() < deadline:
            sender.sendto(b"probe", address)
            readable, _, _ = select.select([sock], [], [], 1)
            if not readable:
                continue
            time.sleep(0.02)
            _data, ancillary, _flags, _from = sock.recvmsg(64, 64)
            read_us = time.time_ns() // 1000
            stamps = [
                seconds * 1_000_000 + nanoseconds // 1000
                for level, kind, payload in ancillary
                if level == socket.SOL_SOCKET and kind == aiortc_hooks.SO_TIMESTAMPNS
                for seconds, nanoseconds in [aiortc_hooks._timespec(payload)]
            ]
            if stamps and stamps[0] <= read_us - 10_000:
                return True
    return False


async def test_datagrams_read_through_the_stamping_socket_carry_the_kernels_arrival_time() -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()

    class Protocol(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.put_nowait((data, time.time_ns() // 1000))

    transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
    clock = aiortc_hooks.ArrivalClock()
    try:
        sock = getattr(transport, aiortc_hooks.ASYNCIO_TRANSPORT_SOCKET)
        sock.setsockopt(socket.SOL_SOCKET, aiortc_hooks.SO_TIMESTAMPNS, 1)
        address = transport.get_extra_info("sockname")
        assert _kernel_stamps_arrivals(sock, address), "the kernel never stamped a datagram at its arrival"
        setattr(transport, aiortc_hooks.ASYNCIO_TRANSPORT_SOCKET, aiortc_hooks._StampingSocket(sock, clock))
        sent_at = time.time_ns() // 1000
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"hello", address)
            # The loop must not read it yet: wait (blocking the loop) until the kernel has queued it, then 50 ms more.
            # (Under load the kernel may queue a loopback datagram well after sendto returned: a fixed sleep alone
            # let the read follow the arrival by less than the margin.)
            readable, _, _ = select.select([sock], [], [], 5)
            assert readable, "the datagram never arrived"
            queued_at = time.time_ns() // 1000
            time.sleep(0.05)  # noqa: ASYNC251
        data, read_at = await asyncio.wait_for(received.get(), 5)
        assert data == b"hello"
        assert sent_at <= clock.last_us <= queued_at <= read_at - 50_000
    finally:
        transport.close()
