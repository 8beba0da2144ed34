"""Bandwidth feedback to a publisher: transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01).

aiortc's receiver answers a publisher with REMB from its own receive-side estimate, which starts from what arrives and
climbs about 8 % per second: a Chromium broadcaster stays near its 300 kbit/s start for tens of seconds. When the
offer carries the transport-wide sequence number extension and ``transport-cc`` feedback (every browser's does), the
SFU answers with both and no ``goog-remb``, records each video packet's number and arrival time (a list append per
packet, in place of aiortc's REMB estimator, which is switched off), and every ``INTERVAL_S`` sends the feedback for
everything that arrived since the last one. The browser's own send-side estimator (GCC, with its probes) then finds
what the link carries within seconds, and backs off when it narrows.
"""

from __future__ import annotations

import asyncio
import logging

from aiortc import RTCRtpReceiver, RTCRtpTransceiver

from core.tasks import cancel_and_wait
from sfu import aiortc_hooks
from sfu.twcc import ArrivalRecorder

log = logging.getLogger(__name__)

#: How often feedback goes out (libwebrtc's receivers send every 50-250 ms, depending on the bitrate).
INTERVAL_S = 0.05


class UplinkFeedback:
    """One publisher's transport-cc feedback: negotiated in the answer, then a task sending it. ``close()`` is
    idempotent."""

    def __init__(self, transceiver: RTCRtpTransceiver, extension_id: int) -> None:
        aiortc_hooks.negotiate_transport_cc(transceiver, extension_id, remb=False)
        self.receiver: RTCRtpReceiver = transceiver.receiver
        aiortc_hooks.stop_remb(self.receiver)
        self.recorder = ArrivalRecorder()
        self._clock = aiortc_hooks.ArrivalClock()
        aiortc_hooks.record_transport_cc(
            self.receiver.transport, extension_id, self._clock, self.recorder.pending.append
        )
        self.feedbacks_sent = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Once the answer is made (the ICE sockets exist): kernel arrival stamps on, feedback task started."""
        if self._task is None and not self._closed:
            aiortc_hooks.stamp_arrivals(self.receiver.transport, self._clock)
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        receiver = self.receiver
        while True:
            await asyncio.sleep(INTERVAL_S)
            sender_ssrc = aiortc_hooks.receiver_rtcp_ssrc(receiver)
            if sender_ssrc is None or not self.recorder.pending:
                continue
            try:
                data = self.recorder.build(sender_ssrc, aiortc_hooks.receiver_media_ssrc(receiver))
                if data is not None:
                    await aiortc_hooks.send_rtcp(receiver.transport, data)
                    self.feedbacks_sent += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not end the publisher's feedback
                log.exception("transport-cc feedback failed")

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        await cancel_and_wait(task)
