"""Wall-clock trace of ``chat:send`` in a benchmark node (``scripts/bench_chat.py --trace``): where a message's time
goes between its frame being read and its ack being written, where the room's ticks spend theirs, and how late the
node's event loop runs. Only for benchmarks: it patches a live ``Hub``'s objects in place.

Per message (keyed by its text, which the benchmark makes unique: ``b <sent wall time> <seq>``):

- ``wire_in``: sent by the load process → its frame read by the node (both clocks are this machine's wall clock);
- ``to_handler``: frame read → ``LiveNamespace.trigger_event`` starts (Engine.IO → Socket.IO dispatch, a task);
- one entry per awaited step of the send path (authorize, perks, rate limit, restriction, store, fan-out, recent
  cache, points …) and ``handler`` (the whole ``trigger_event``);
- ``ack_queue``: the handler returned → the ack queued on the sender's Engine.IO socket;
- ``ack_write``: queued → handed to the WebSocket (its writer task ran);
- ``node_total``: frame read → ack handed to the WebSocket.

Per room tick: wait (the oldest event's time in the sequencer before its tick started), writing (the tick's
delivery to every local member), members. On the receiving node: sent → its Redis message handled (``remote_in``).
Event-loop lateness: a 5 ms timer's delay (``loop_lag``). Loop iterations (selector polls) per segment (``iterations``):
what a step costs apart from how busy the machine is.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import statistics
import time
from typing import Any

_TEXT = re.compile(r'"text":"(b [0-9.]+ [0-9]+)"')
_current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("chat_trace", default=None)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else 0.0


def _ms(x: float) -> float:
    return round(1000 * x, 1)


class ChatTrace:
    def __init__(self) -> None:
        self.messages: dict[str, dict[str, float]] = {}
        self.ticks: list[tuple[float, float, int, int]] = []  # (waited, writing, members, loop iterations writing)
        self.remote_in: list[float] = []
        self.lag: list[float] = []
        self.active = False
        self._lag_task: asyncio.Task[None] | None = None
        self.iterations = 0  # event-loop iterations (selector polls): what a step costs apart from the machine's load

    # ------------------------------------------------------------------------------------------------ window
    def start(self) -> None:
        self.messages.clear()
        self.ticks.clear()
        self.remote_in.clear()
        self.lag.clear()
        self.active = True
        self._lag_task = asyncio.get_running_loop().create_task(self._sample_lag())

    def stop(self) -> dict[str, Any]:
        self.active = False
        if self._lag_task is not None:
            self._lag_task.cancel()
        return self.summary()

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            at = loop.time()
            await asyncio.sleep(0.005)
            self.lag.append(loop.time() - at - 0.005)

    # ------------------------------------------------------------------------------------------------ hooks
    def _msg(self, text: str) -> dict[str, float]:
        m = self.messages.get(text)
        if m is None:
            m = self.messages[text] = {"sent": float(text.split()[1])}
        return m

    def install(self, hub: Any) -> None:
        from engineio.async_drivers import asgi as eio_asgi

        from signaling.fanout import RoomFanout, RoomSequencer
        from signaling.lean_socket import LeanSocket
        from signaling.server import LiveNamespace

        trace = self
        selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        select = selector.select

        def counted_select(timeout: float | None = None) -> Any:
            trace.iterations += 1
            return select(timeout)

        selector.select = counted_select

        receive = LeanSocket.receive

        async def traced_receive(sock: Any, pkt: Any) -> Any:
            if trace.active and isinstance(pkt.data, str) and '"chat:send"' in pkt.data:
                found = _TEXT.search(pkt.data)
                if found:
                    m = trace._msg(found.group(1))
                    m["read"] = time.time()
                    m["#read"] = trace.iterations
            return await receive(sock, pkt)

        LeanSocket.receive = traced_receive  # type: ignore[method-assign]

        trigger = LiveNamespace.trigger_event

        async def traced_trigger(ns: Any, event: str, *args: Any) -> Any:
            if not (trace.active and event == "chat:send" and len(args) > 1 and isinstance(args[1], dict)):
                return await trigger(ns, event, *args)
            m = trace._msg(str(args[1].get("text")))
            m["start"] = time.time()
            m["#start"] = trace.iterations
            token = _current.set(m)
            try:
                return await trigger(ns, event, *args)
            finally:
                m["end"] = time.time()
                m["#end"] = trace.iterations
                _current.reset(token)

        LiveNamespace.trigger_event = traced_trigger  # type: ignore[method-assign]

        send = LeanSocket.send

        async def traced_send(sock: Any, pkt: Any) -> Any:
            m = None
            if trace.active and isinstance(pkt.data, str) and pkt.data.startswith("3"):
                found = _TEXT.search(pkt.data)
                if found and found.group(1) in trace.messages:
                    m = trace.messages[found.group(1)]
                    m["ack_queued"] = time.time()
            result = await send(sock, pkt)
            if m is not None and not any(p is pkt for p in sock.queue._items):
                m["ack_written"] = time.time()  # written straight to the wire (or dropped): not through the writer
                m["#ack"] = trace.iterations
            return result

        LeanSocket.send = traced_send  # type: ignore[method-assign]

        ws_send = eio_asgi.WebSocket.send

        async def traced_ws_send(ws: Any, message: Any) -> Any:
            if trace.active and isinstance(message, str) and message.startswith("43"):
                found = _TEXT.search(message)
                if found and found.group(1) in trace.messages:
                    trace.messages[found.group(1)]["ack_written"] = time.time()
                    trace.messages[found.group(1)]["#ack"] = trace.iterations
            return await ws_send(ws, message)

        eio_asgi.WebSocket.send = traced_ws_send

        # The awaited steps of the send path, on the hub's own objects.
        chatting = hub.use.chatting
        chat = hub.chat
        steps: list[tuple[Any, str, str]] = [
            (chatting._access, "authorize", "authorize"),
            (chat, "_room", "room"),
            (chat, "restriction", "restriction"),
            (chat, "_check_settings", "settings"),
            (chat, "_mentions", "mentions"),
            (chat._limiter, "hit", "rate_limit"),
            (chat._store, "insert_message", "store"),
            (chat.notifier, "chat", "fanout"),
            (chat._live, "push_recent", "recent"),
        ]
        if chatting._subs is not None:
            steps.append((chatting._subs, "perks", "perks"))
        if chatting._emotes is not None:
            steps.append((chatting._emotes, "in_text", "emotes"))
        if chatting._points is not None:
            steps.append((chatting._points, "chatted", "points"))
        for obj, attr, name in steps:
            setattr(obj, attr, self._timed(name, getattr(obj, attr)))

        add = RoomSequencer.add

        def traced_add(seq: Any, event: str, data: Any) -> None:
            if trace.active and event == "chat:message" and isinstance(data, dict):
                text = data.get("text")
                if isinstance(text, str) and text.startswith("b "):
                    seq.__dict__.setdefault("_trace_first", time.time())
            add(seq, event, data)

        RoomSequencer.add = traced_add  # type: ignore[method-assign]

        deliver_now = RoomFanout.deliver_now

        async def traced_deliver_now(fanout: Any, namespace: str, room: str, *a: Any, **kw: Any) -> Any:
            seq = fanout._batchers.get(room)
            first = seq.__dict__.pop("_trace_first", None) if seq is not None else None
            t0, i0 = time.time(), trace.iterations
            try:
                return await deliver_now(fanout, namespace, room, *a, **kw)
            finally:
                if trace.active and first is not None:
                    members = fanout.local_members(namespace, room)
                    trace.ticks.append((t0 - first, time.time() - t0, members, trace.iterations - i0))

        RoomFanout.deliver_now = traced_deliver_now  # type: ignore[method-assign]

        on_remote = RoomFanout._on_remote

        async def traced_on_remote(fanout: Any, raw: bytes) -> Any:
            if trace.active:
                found = re.search(rb"b ([0-9]+\.[0-9]+) [0-9]+", raw)
                if found:
                    trace.remote_in.append(time.time() - float(found.group(1)))
            return await on_remote(fanout, raw)

        RoomFanout._on_remote = traced_on_remote  # type: ignore[method-assign]

    def _timed(self, name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            m = _current.get()
            if m is None:
                return await fn(*args, **kwargs)
            t0, i0 = time.time(), self.iterations
            try:
                return await fn(*args, **kwargs)
            finally:
                m[name] = m.get(name, 0.0) + time.time() - t0
                m["#" + name] = m.get("#" + name, 0) + self.iterations - i0

        return timed

    # ------------------------------------------------------------------------------------------------ report
    def summary(self) -> dict[str, Any]:
        segments: dict[str, list[float]] = {}

        def put(name: str, value: float) -> None:
            segments.setdefault(name, []).append(value)

        done = [m for m in self.messages.values() if {"read", "start", "end", "ack_written"} <= m.keys()]
        skip = {"sent", "read", "start", "end", "ack_queued", "ack_written"}
        iters: dict[str, list[float]] = {}
        for m in done:
            for k, v in m.items():
                if k.startswith("#") and k not in ("#read", "#start", "#end", "#ack"):
                    iters.setdefault(k[1:], []).append(v)
            if {"#read", "#start", "#end", "#ack"} <= m.keys():
                iters.setdefault("to_handler", []).append(m["#start"] - m["#read"])
                iters.setdefault("handler", []).append(m["#end"] - m["#start"])
                iters.setdefault("ack", []).append(m["#ack"] - m["#end"])
                iters.setdefault("node_total", []).append(m["#ack"] - m["#read"])
            put("wire_in", m["read"] - m["sent"])
            put("to_handler", m["start"] - m["read"])
            put("handler", m["end"] - m["start"])
            for k, v in m.items():
                if k not in skip and not k.startswith("#"):
                    put(k, v)
            if "ack_queued" in m:
                put("ack_queue", m["ack_queued"] - m["end"])
                put("ack_write", m["ack_written"] - m["ack_queued"])
            put("node_total", m["ack_written"] - m["read"])
        out: dict[str, Any] = {"messages": len(done)}
        for name, values in segments.items():
            out[name] = [_ms(statistics.median(values)), _ms(_pct(values, 0.99)), _ms(max(values))]
        # loop iterations per segment, p50 / p99 / max: independent of how busy the machine is
        out["iterations"] = {
            name: [statistics.median(v), _pct(v, 0.99), max(v)] for name, v in iters.items() if max(v) > 0
        }
        worst = sorted(done, key=lambda m: m["ack_written"] - m["sent"], reverse=True)[:5]
        out["worst"] = [
            {
                k: _ms(v - m["sent"]) if k in skip - {"sent"} else _ms(v)
                for k, v in m.items()
                if k != "sent" and not k.startswith("#")
            }
            for m in worst
        ]
        if self.ticks:
            waited = [t[0] for t in self.ticks]
            writing = [t[1] for t in self.ticks]
            out["ticks"] = {
                "count": len(self.ticks),
                "wait": [_ms(statistics.median(waited)), _ms(_pct(waited, 0.99)), _ms(max(waited))],
                "writing": [_ms(statistics.median(writing)), _ms(_pct(writing, 0.99)), _ms(max(writing))],
                "members": self.ticks[-1][2],
                "iterations": statistics.median([t[3] for t in self.ticks]),
                "ms_per_iteration": _ms(statistics.median([t[1] / max(1, t[3]) for t in self.ticks])),
            }
        if self.remote_in:
            r = self.remote_in
            out["remote_in"] = [_ms(statistics.median(r)), _ms(_pct(r, 0.99)), _ms(max(r))]
        if self.lag:
            lag = self.lag
            out["loop_lag"] = [_ms(statistics.median(lag)), _ms(_pct(lag, 0.99)), _ms(max(lag))]
            out["loop_lag_over_20ms"] = sum(1 for x in lag if x > 0.02)
        return out
